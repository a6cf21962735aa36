"""The JSONL formats an import reads, one parser per format: each turns a parsed line into rows to store.

- `trl`: every TRL dataset type the platform stores, told apart by its keys, standard (strings) or
  conversational (lists of `{"role","content"}` messages): preference (`prompt`/`chosen`/`rejected`, or an
  implicit prompt: `chosen`/`rejected` only), prompt-completion (`prompt`/`completion`) and prompt-only
  (`prompt`); preference and prompt-only rows may carry a `reference` string.
- `hh`: Anthropic HH-RLHF dialogues; `oasst`: OpenAssistant message trees; `labelled`: `{"text","label"}`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from services.core.enums import DatasetKind, ImportFormat, MessageRole
from services.core.errors import InvalidInputError
from services.domain import gold
from services.domain.examples import NewExample
from services.domain.prompts import Message, PromptValue, check_messages, check_prompt

HH_ASSISTANT = "\n\nAssistant:"
HH_HUMAN = "\n\nHuman:"
TRL_TYPES = (
    "preference (prompt, chosen, rejected), implicit-prompt preference (chosen, rejected), "
    "prompt-completion (prompt, completion) or prompt-only (prompt)"
)


@dataclass(frozen=True)
class KnownPair:
    """A prompt with a better and a worse response, before A/B placement."""

    prompt: PromptValue
    chosen: str
    rejected: str
    metadata: dict[str, Any] = field(default_factory=dict)
    reference: str | None = None
    # A line's `gold` makes the pair a gold item; in the line's own order: a = chosen, b = rejected, or tie.
    gold: str | None = None


Row = KnownPair | NewExample


def row_kind(row: Row) -> DatasetKind:
    return DatasetKind.PREFERENCE if isinstance(row, KnownPair) else row.kind


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


def _reference(record: dict[str, Any]) -> str | None:
    reference = record.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise InvalidInputError("'reference' must be a string")
    return reference


def _answer(value: Any, key: str, conversational: bool) -> str:
    """A response or completion: a string, or (conversational rows) a list of one assistant message."""
    if not conversational:
        if not isinstance(value, str):
            raise InvalidInputError(f"{key!r} must be a string, as the prompt is one")
        return value
    wanted = f"{key!r} must be a list of one assistant message, as the prompt is a conversation"
    if not isinstance(value, list) or len(value) != 1:
        raise InvalidInputError(wanted)
    (message,) = check_messages(value, key)
    if message["role"] != MessageRole.ASSISTANT:
        raise InvalidInputError(wanted)
    return message["content"]


def parse_trl(record: Any) -> Iterator[Row]:
    """One row of a TRL dataset, its type told apart by its keys (module docstring)."""
    if not isinstance(record, dict):
        raise InvalidInputError("expected a JSON object")
    if "chosen" in record or "rejected" in record:
        yield _trl_preference(record)
    elif "label" in record or "text" in record or "messages" in record:
        raise InvalidInputError(
            f"unsupported TRL row (keys {sorted(record)}): the trl format takes {TRL_TYPES}; "
            'use format=labelled for {"text","label"} rows'
        )
    elif "completion" in record:
        prompt = check_prompt(record.get("prompt"), "prompt")
        completion = _answer(record["completion"], "completion", isinstance(prompt, list))
        yield NewExample(prompt, completion=completion, metadata={"source": "trl"})
    elif "prompt" in record:
        yield NewExample(
            check_prompt(record["prompt"]), reference=_reference(record), metadata={"source": "trl"}
        )
    else:
        raise InvalidInputError(f"not a TRL row (keys {sorted(record)}): expected {TRL_TYPES}")


def _trl_preference(record: dict[str, Any]) -> KnownPair:
    chosen, rejected = record.get("chosen"), record.get("rejected")
    reference, gold_answer = _reference(record), gold.check_gold(record.get("gold"))
    if "prompt" in record:
        prompt = check_prompt(record["prompt"])
        conversational = isinstance(prompt, list)
        return KnownPair(
            prompt,
            _answer(chosen, "chosen", conversational),
            _answer(rejected, "rejected", conversational),
            {"source": "trl"},
            reference,
            gold_answer,
        )
    if isinstance(chosen, str) and isinstance(rejected, str):
        prompt, chosen, rejected = _split_text(chosen, rejected)
        return KnownPair(prompt, chosen, rejected, {"source": "trl"}, reference, gold_answer)
    if isinstance(chosen, list) and isinstance(rejected, list):
        messages, chosen, rejected = _split_conversations(
            check_messages(chosen, "chosen"), check_messages(rejected, "rejected")
        )
        return KnownPair(messages, chosen, rejected, {"source": "trl"}, reference, gold_answer)
    raise InvalidInputError("'chosen' and 'rejected' must both be strings or both be lists of messages")


def _split_text(chosen: str, rejected: str) -> tuple[str, str, str]:
    """An implicit prompt as TRL's extract_prompt finds it: the longest common prefix, less a trailing
    space (which stays with the responses)."""
    cut = 0
    while cut < min(len(chosen), len(rejected)) and chosen[cut] == rejected[cut]:
        cut += 1
    if cut and chosen[cut - 1] == " ":
        cut -= 1
    return chosen[:cut], chosen[cut:], rejected[cut:]


def _split_conversations(chosen: list[Message], rejected: list[Message]) -> tuple[list[Message], str, str]:
    """An implicit conversational prompt: the shared leading messages; each side then has one assistant
    message, its response."""
    cut = 0
    while cut < min(len(chosen), len(rejected)) and chosen[cut] == rejected[cut]:
        cut += 1
    if cut == 0:
        raise InvalidInputError("'chosen' and 'rejected' share no leading messages: no prompt to extract")
    return (
        chosen[:cut],
        _answer(chosen[cut:], "chosen's reply", True),
        _answer(rejected[cut:], "rejected's reply", True),
    )


def parse_labelled(record: Any) -> Iterator[Row]:
    """`{"text", "label"}`: a text and its class (a string, an integer or a boolean)."""
    (text,) = _strings(record, "text")
    label = record.get("label")
    if not isinstance(label, str | int):
        raise InvalidInputError("'label' must be a string, an integer or a boolean")
    yield NewExample(text, label=label, metadata={"source": "labelled"})


def _split_hh(dialogue: str, key: str) -> tuple[str, str]:
    cut = dialogue.rfind(HH_ASSISTANT)
    if cut < 0:
        raise InvalidInputError(f"{key!r} has no {HH_ASSISTANT!r} turn")
    cut += len(HH_ASSISTANT)
    return dialogue[:cut], dialogue[cut:]


def parse_hh(record: Any) -> Iterator[Row]:
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
    yield KnownPair(
        prompt, chosen_response, rejected_response, metadata, gold=gold.check_gold(record.get("gold"))
    )


def parse_oasst(record: Any) -> Iterator[Row]:
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


PARSERS: dict[ImportFormat, Callable[[Any], Iterator[Row]]] = {
    ImportFormat.TRL: parse_trl,
    ImportFormat.HH: parse_hh,
    ImportFormat.OASST: parse_oasst,
    ImportFormat.LABELLED: parse_labelled,
}

# One example line per format, for the docs and `rlhf import --help` (tests/domain checks each imports).
EXAMPLES: dict[str, str] = {
    "trl preference": '{"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}',
    "trl preference, implicit prompt": '{"chosen": "The sky is blue.", "rejected": "The sky is green."}',
    "trl preference, conversational": '{"prompt": [{"role": "user", "content": "Sky colour?"}], '
    '"chosen": [{"role": "assistant", "content": "Blue."}], '
    '"rejected": [{"role": "assistant", "content": "Green."}]}',
    "trl prompt-completion (demonstration)": '{"prompt": [{"role": "user", "content": "Sky colour?"}], '
    '"completion": [{"role": "assistant", "content": "Blue."}]}',
    "trl prompt-only (prompt)": '{"prompt": "Write a haiku about rain.", "reference": "Soft rain on the roof"}',
    "labelled": '{"text": "A wonderful film.", "label": 1}',
    "hh": '{"chosen": "\\n\\nHuman: Hi\\n\\nAssistant: Hello!", "rejected": "\\n\\nHuman: Hi\\n\\nAssistant: Go away."}',
    "oasst": '{"message_tree_id": "t1", "prompt": {"message_id": "m1", "role": "prompter", "text": "Hi", '
    '"replies": [{"message_id": "m2", "role": "assistant", "text": "Hello!", "rank": 0}, '
    '{"message_id": "m3", "role": "assistant", "text": "Go away.", "rank": 1}]}}',
}


def example_lines() -> list[tuple[ImportFormat, str, str]]:
    """EXAMPLES as (format, which rows it shows, the line), for the console and the API."""
    found = []
    for key, line in EXAMPLES.items():
        name, _, shape = key.partition(" ")
        found.append((ImportFormat(name), shape, line))
    return found
