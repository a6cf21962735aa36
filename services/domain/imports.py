"""Imports of existing preference data (JSONL): TRL, Anthropic HH-RLHF and OpenAssistant message trees.

The whole upload is one transaction, inserted in batches as it is read, so memory stays bounded however
long the file is: a malformed line rolls everything back and names its line number.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from services.core.enums import ImportFormat, Side
from services.core.errors import DomainError, InvalidInputError, NotFoundError, PayloadTooLargeError
from services.core.orm import Dataset, Preference
from services.core.settings import get_settings
from services.domain import annotators, comparisons, gold
from services.domain.comparisons import NewComparison

BATCH_SIZE = 1000
HH_ASSISTANT = "\n\nAssistant:"
HH_HUMAN = "\n\nHuman:"


@dataclass(frozen=True)
class ImportResult:
    comparisons: int
    preferences: int


@dataclass(frozen=True)
class KnownPair:
    """A prompt with a better and a worse response, before A/B placement."""

    prompt: str
    chosen: str
    rejected: str
    metadata: dict[str, Any]
    # A line's `gold` makes the pair a gold item; in the line's own order: a = chosen, b = rejected, or tie.
    gold: str | None = None


def import_file(
    session: Session, dataset_id: int, source: IO[bytes], *, format: str, with_preferences: bool
) -> ImportResult:
    """Import a JSONL file into a dataset; with_preferences records each known winner as a vote of the
    built-in `import` annotator (it fills a slot). A/B order is randomised either way."""
    if format not in list(ImportFormat):
        raise InvalidInputError(f"format must be one of {', '.join(ImportFormat)}")
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id} not found")
    voter_id = annotators.import_annotator(session).id if with_preferences else None
    parse = {ImportFormat.TRL: _parse_trl, ImportFormat.HH: _parse_hh, ImportFormat.OASST: _parse_oasst}[
        ImportFormat(format)
    ]
    rng = random.Random()
    stored = 0
    try:
        batch: list[tuple[NewComparison, Side]] = []
        for line_number, record in _records(source):
            try:
                pairs = list(parse(record))
                placed = [_place(pair, rng) for pair in pairs]
                for item, _ in placed:
                    comparisons.check(item)
            except DomainError as error:
                raise type(error)(f"line {line_number}: {error.message}") from None
            batch.extend(placed)
            if len(batch) >= BATCH_SIZE:
                stored += _store(session, dataset, batch, voter_id)
                batch = []
        stored += _store(session, dataset, batch, voter_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return ImportResult(comparisons=stored, preferences=stored if with_preferences else 0)


def _records(source: IO[bytes]) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) for each non-blank line; a line longer than the limit is refused unread."""
    limit = 100 * get_settings().max_text_bytes
    line_number = 0
    while line := source.readline(limit + 1):
        line_number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            raise PayloadTooLargeError(f"line {line_number}: longer than {limit} bytes")
        if not line.strip():
            continue
        try:
            yield line_number, json.loads(line)
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
            raise InvalidInputError(f"line {line_number}: not valid JSON ({error})") from None
    if line_number == 0:
        raise InvalidInputError("the upload is empty")


def _place(pair: KnownPair, rng: random.Random) -> tuple[NewComparison, Side]:
    """Put the chosen response on side A or B at random; return the comparison and the winning side."""
    if rng.random() < 0.5:
        return NewComparison(pair.prompt, pair.chosen, pair.rejected, pair.metadata, gold=pair.gold), Side.A
    swapped = {"a": "b", "b": "a"}.get(pair.gold or "", pair.gold)  # the gold answer follows its response
    return NewComparison(pair.prompt, pair.rejected, pair.chosen, pair.metadata, gold=swapped), Side.B


def _store(
    session: Session, dataset: Dataset, batch: list[tuple[NewComparison, Side]], voter_id: int | None
) -> int:
    if not batch:
        return 0
    votes = 1 if voter_id is not None else 0
    ids = comparisons.insert_batch(session, dataset, [item for item, _ in batch], votes_each=votes)
    if voter_id is not None:
        session.execute(
            insert(Preference),
            [
                {"comparison_id": cid, "annotator_id": voter_id, "choice": winner}
                for cid, (_, winner) in zip(ids, batch, strict=True)
            ],
        )
    return len(ids)


def _strings(record: Any, *keys: str) -> list[str]:
    if not isinstance(record, dict):
        raise InvalidInputError("expected a JSON object")
    values = []
    for key in keys:
        value = record.get(key)
        if not isinstance(value, str):
            raise InvalidInputError(f"{key!r} must be a string")
        values.append(value)
    return values


def _parse_trl(record: Any) -> Iterator[KnownPair]:
    """TRL's explicit-prompt preference format: {"prompt", "chosen", "rejected"} strings."""
    prompt, chosen, rejected = _strings(record, "prompt", "chosen", "rejected")
    yield KnownPair(prompt, chosen, rejected, {"source": "trl"}, gold.check_gold(record.get("gold")))


def _split_hh(dialogue: str, key: str) -> tuple[str, str]:
    cut = dialogue.rfind(HH_ASSISTANT)
    if cut < 0:
        raise InvalidInputError(f"{key!r} has no {HH_ASSISTANT!r} turn")
    cut += len(HH_ASSISTANT)
    return dialogue[:cut], dialogue[cut:]


def _parse_hh(record: Any) -> Iterator[KnownPair]:
    """Anthropic HH-RLHF: two dialogues that differ in the last assistant turn.

    The prompt is everything up to and including the last "\\n\\nAssistant:" of `chosen`; each response
    is the rest of its own dialogue. In the few published rows whose two dialogues differ earlier, the
    prompt of `chosen` is kept and the row is flagged in its metadata.
    """
    chosen, rejected = _strings(record, "chosen", "rejected")
    prompt, chosen_response = _split_hh(chosen, "chosen")
    rejected_prompt, rejected_response = _split_hh(rejected, "rejected")
    metadata: dict[str, Any] = {"source": "hh"}
    if rejected_prompt != prompt:
        metadata["rejected_prompt_differs"] = True
    yield KnownPair(prompt, chosen_response, rejected_response, metadata, gold.check_gold(record.get("gold")))


def _parse_oasst(record: Any) -> Iterator[KnownPair]:
    """OpenAssistant message trees: every pair of ranked sibling assistant replies (rank 0 is best).

    The prompt is the conversation up to the replies, in the HH convention ("\\n\\nHuman: ..." and
    "\\n\\nAssistant: ..." turns, ending with "\\n\\nAssistant:"); each response starts with a space.
    """
    if not isinstance(record, dict) or not isinstance(record.get("prompt"), dict):
        raise InvalidInputError("expected a message tree: an object with a 'prompt' message")
    tree_id = record.get("message_tree_id")
    # Depth-first with an explicit stack: real trees can be deeper than Python's recursion limit allows.
    stack: list[tuple[dict[str, Any], str]] = [(record["prompt"], "")]
    while stack:
        message, history = stack.pop()
        (text,) = _strings(message, "text")
        role = message.get("role")
        if role not in ("prompter", "assistant"):
            raise InvalidInputError(
                f"message {message.get('message_id')!r}: role must be prompter or assistant"
            )
        history += f"{HH_HUMAN if role == 'prompter' else HH_ASSISTANT} {text}"
        replies = message.get("replies", [])
        if not isinstance(replies, list) or not all(isinstance(r, dict) for r in replies):
            raise InvalidInputError(
                f"message {message.get('message_id')!r}: replies must be a list of messages"
            )
        ranked = [
            r
            for r in replies
            if r.get("role") == "assistant" and r.get("rank") is not None and not r.get("deleted")
        ]
        for reply in ranked:
            if not isinstance(reply["rank"], int) or isinstance(reply["rank"], bool):
                raise InvalidInputError(f"message {reply.get('message_id')!r}: rank must be an integer")
            _strings(reply, "text")
        ranked.sort(key=lambda r: r["rank"])
        prompt = history + HH_ASSISTANT
        for i, better in enumerate(ranked):
            for worse in ranked[i + 1 :]:
                if better["rank"] == worse["rank"]:
                    continue  # equal ranks state no preference
                yield KnownPair(
                    prompt,
                    " " + better["text"],
                    " " + worse["text"],
                    {"source": "oasst", "message_tree_id": tree_id, "parent_id": message.get("message_id")},
                )
        stack.extend((reply, history) for reply in reversed(replies))
