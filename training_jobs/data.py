"""From PostgreSQL to plain Python lists for the trainers; the job modules never write SQL.

A job records its data snapshot (the highest comparison, preference and example ids of its dataset) when it
starts; prompts are read up to that comparison or example id, preference pairs as aggregated by the
collector's own `trl` export at the moment they are read (so the snapshot is a lower bound for votes arriving
meanwhile). Rows come as TRL's types have them: a prompt is a string or a list of `{"role","content"}`
messages, and then responses and completions are lists of one assistant message.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, select

from services.core.db import session_scope
from services.core.enums import DatasetKind, SourceFilter
from services.core.orm import Comparison, Dataset, Example, Preference, Prompt
from services.domain import exports
from services.domain.prompts import PromptValue, render, stored
from training_jobs.context import JobInputError

T = TypeVar("T")


@dataclass
class PreferenceData:
    # {"prompt", "chosen", "rejected", "margin"} (demonstrations: prompt, completion; labelled: text, label)
    pairs: list[dict[str, Any]]
    snapshot: dict[str, Any]  # {"dataset_id", "max_comparison_id", "max_preference_id", "max_example_id"}


def _kind(dataset_id: int) -> DatasetKind:
    with session_scope() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            raise JobInputError(f"dataset {dataset_id} does not exist")
        return DatasetKind(dataset.kind)


def data_snapshot(dataset_id: int) -> dict[str, Any]:
    """The highest comparison, preference and example ids of a dataset now: what a job starting now may read."""
    with session_scope() as session:
        if session.get(Dataset, dataset_id) is None:
            raise JobInputError(f"dataset {dataset_id} does not exist")
        max_example_id = session.scalar(select(func.max(Example.id)).where(Example.dataset_id == dataset_id))
        max_comparison_id = session.scalar(
            select(func.max(Comparison.id)).where(Comparison.dataset_id == dataset_id)
        )
        max_preference_id = session.scalar(
            select(func.max(Preference.id))
            .join(Comparison, Comparison.id == Preference.comparison_id)
            .where(Comparison.dataset_id == dataset_id)
        )
    return {
        "dataset_id": dataset_id,
        "max_comparison_id": max_comparison_id,
        "max_preference_id": max_preference_id,
        "max_example_id": max_example_id,
    }


def _export_rows(
    dataset_id: int, kind: DatasetKind, *, min_trust: float | None = None, source: str = SourceFilter.HUMAN
) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for chunk in exports.stream(dataset_id, kind, format="trl", min_trust=min_trust, source=source)
        for line in chunk.decode().splitlines()
        if line
    ]


def preference_pairs(
    dataset_id: int, *, min_trust: float | None = None, source: str = SourceFilter.HUMAN
) -> PreferenceData:
    """One decided pair per comparison: majority vote, ties and skips left out, margin from strength; gold
    items left out, and the votes of annotators trusted less than min_trust (None: every vote); the votes of
    `source` only (human, ai or all: services/domain/ai_preferences.py).

    The aggregation is the collector's `trl` export (services.domain.exports), so a model trained here
    and one trained elsewhere on `rlhf export --format trl` see the same pairs.
    """
    _require(dataset_id, {DatasetKind.PREFERENCE})
    snapshot = data_snapshot(dataset_id)
    pairs = _export_rows(dataset_id, DatasetKind.PREFERENCE, min_trust=min_trust, source=source)
    if not pairs:
        raise JobInputError(
            f"dataset {dataset_id} has no decided comparisons among the {source} preferences: every comparison "
            "needs a majority of a/b votes (ties and skips do not count); collect or import preferences first"
        )
    return PreferenceData(pairs=pairs, snapshot=snapshot)


def _require(dataset_id: int, kinds: set[DatasetKind]) -> DatasetKind:
    kind = _kind(dataset_id)
    if kind not in kinds:
        raise JobInputError(
            f"dataset {dataset_id} is a {kind} dataset; this job reads {' or '.join(sorted(kinds))} datasets"
        )
    return kind


def demonstrations(
    dataset_id: int, *, min_trust: float | None = None, source: str = SourceFilter.HUMAN
) -> PreferenceData:
    """(prompt, completion) pairs for supervised fine-tuning: a demonstration dataset's rows, or the chosen
    response of each decided pair of a preference dataset (min_trust, source: as in preference_pairs)."""
    kind = _require(dataset_id, {DatasetKind.DEMONSTRATION, DatasetKind.PREFERENCE})
    if kind == DatasetKind.PREFERENCE:
        data = preference_pairs(dataset_id, min_trust=min_trust, source=source)
        rows = [{"prompt": pair["prompt"], "completion": pair["chosen"]} for pair in data.pairs]
        return PreferenceData(pairs=rows, snapshot=data.snapshot)
    snapshot = data_snapshot(dataset_id)
    rows = _export_rows(dataset_id, kind)
    if not rows:
        raise JobInputError(
            f"dataset {dataset_id} has no demonstrations: import prompt-completion rows first"
        )
    return PreferenceData(pairs=rows, snapshot=snapshot)


def labelled_rows(dataset_id: int) -> PreferenceData:
    """{"text", "label"} rows of a labelled dataset, for classifiers."""
    _require(dataset_id, {DatasetKind.LABELLED})
    snapshot = data_snapshot(dataset_id)
    rows = _export_rows(dataset_id, DatasetKind.LABELLED)
    if not rows:
        raise JobInputError(f"dataset {dataset_id} has no labelled rows: import some first")
    return PreferenceData(pairs=rows, snapshot=snapshot)


def dataset_prompts(
    dataset_id: int, *, max_comparison_id: int | None = None, max_example_id: int | None = None
) -> list[PromptValue]:
    """The distinct prompts of a preference dataset (its comparisons, up to max_comparison_id) or a prompt
    dataset (its rows, up to max_example_id), in the order they first appeared, each a string or a message
    list."""
    rows = dataset_prompt_rows(dataset_id, max_comparison_id=max_comparison_id, max_example_id=max_example_id)
    return [prompt for prompt, _ in rows]


def dataset_prompt_rows(
    dataset_id: int, *, max_comparison_id: int | None = None, max_example_id: int | None = None
) -> list[tuple[PromptValue, str | None]]:
    """dataset_prompts with each prompt's reference (for ROUGE and BLEU rewards): that of the row (comparison
    or prompt row) where the prompt first appeared, None when it has none."""
    kind = _require(dataset_id, {DatasetKind.PROMPT, DatasetKind.PREFERENCE})
    table: type[Comparison] | type[Example] = Comparison if kind == DatasetKind.PREFERENCE else Example
    bound = max_comparison_id if kind == DatasetKind.PREFERENCE else max_example_id
    with session_scope() as session:
        first_seen = (
            select(table.prompt_id, func.min(table.id).label("first_id"))
            .where(table.dataset_id == dataset_id)
            .group_by(table.prompt_id)
        )
        if bound is not None:
            first_seen = first_seen.where(table.id <= bound)
        first = first_seen.subquery()
        rows = session.execute(
            select(Prompt.text, Prompt.messages, table.reference)
            .join(first, first.c.prompt_id == Prompt.id)
            .join(table, table.id == first.c.first_id)
            .order_by(first.c.first_id)
        )
        prompts = [(stored(text, messages), reference) for text, messages, reference in rows.tuples()]
    if not prompts:
        raise JobInputError(f"dataset {dataset_id} has no prompts: add comparisons or import prompts first")
    return prompts


def prompt_text(prompt: PromptValue) -> str:
    """A prompt as plain text for a model without a chat template: the text, or the conversation's
    `role: content` blocks followed by the assistant's turn."""
    return prompt if isinstance(prompt, str) else f"{render(prompt)}\n\nassistant:"


def _split_key(item: Any, seed: int) -> str:
    text = item if isinstance(item, str) else json.dumps(item, sort_keys=True, default=str)
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


def split_train_eval(
    items: Sequence[T], *, eval_fraction: float = 0.1, seed: int = 0
) -> tuple[list[T], list[T]]:
    """A deterministic train/eval split by content hash, each keeping the input order.

    An item lands on the same side whatever else is in the dataset, so a model trained on more data later is
    never evaluated on pairs an earlier split trained on. At least one eval item when there are two or more.
    """
    if not 0.0 <= eval_fraction < 1.0:
        raise JobInputError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    keys = [_split_key(item, seed) for item in items]
    threshold = int(eval_fraction * 2**32)
    in_eval = [int(key[:8], 16) < threshold for key in keys]
    if eval_fraction > 0 and len(items) >= 2 and not any(in_eval):
        in_eval[min(range(len(items)), key=keys.__getitem__)] = True
    train = [item for item, is_eval in zip(items, in_eval, strict=True) if not is_eval]
    evaluation = [item for item, is_eval in zip(items, in_eval, strict=True) if is_eval]
    return train, evaluation
