"""From PostgreSQL to plain Python lists for the trainers; the job modules never write SQL.

A job records its data snapshot (the highest comparison and preference ids of its dataset) when it starts;
prompts are read up to that comparison id, preference pairs as aggregated by the collector's own `trl`
export at the moment they are read (so the snapshot is a lower bound for votes arriving meanwhile).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, select

from services.core.db import session_scope
from services.core.orm import Comparison, Dataset, Preference, Prompt
from services.domain import exports
from training_jobs.context import JobInputError

T = TypeVar("T")


@dataclass
class PreferenceData:
    pairs: list[
        dict[str, Any]
    ]  # {"prompt", "chosen", "rejected", "margin"} (demonstrations: prompt, completion)
    snapshot: dict[str, Any]  # {"dataset_id", "max_comparison_id", "max_preference_id"}


def data_snapshot(dataset_id: int) -> dict[str, Any]:
    """The highest comparison and preference ids of a dataset now: what a job starting now may read."""
    with session_scope() as session:
        if session.get(Dataset, dataset_id) is None:
            raise JobInputError(f"dataset {dataset_id} does not exist")
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
    }


def preference_pairs(dataset_id: int, *, min_trust: float | None = None) -> PreferenceData:
    """One decided pair per comparison: majority vote, ties and skips left out, margin from strength; gold
    items left out, and the votes of annotators trusted less than min_trust (None: every vote).

    The aggregation is the collector's `trl` export (services.domain.exports), so a model trained here
    and one trained elsewhere on `rlhf export --format trl` see the same pairs.
    """
    snapshot = data_snapshot(dataset_id)
    pairs = [
        json.loads(line)
        for chunk in exports.stream(dataset_id, format="trl", min_trust=min_trust)
        for line in chunk.decode().splitlines()
        if line
    ]
    if not pairs:
        raise JobInputError(
            f"dataset {dataset_id} has no decided comparisons: every comparison needs a majority of a/b votes "
            "(ties and skips do not count); collect or import preferences first"
        )
    return PreferenceData(pairs=pairs, snapshot=snapshot)


def demonstrations(dataset_id: int, *, min_trust: float | None = None) -> PreferenceData:
    """(prompt, completion) pairs for supervised fine-tuning: the chosen response of each decided pair."""
    data = preference_pairs(dataset_id, min_trust=min_trust)
    rows = [{"prompt": pair["prompt"], "completion": pair["chosen"]} for pair in data.pairs]
    return PreferenceData(pairs=rows, snapshot=data.snapshot)


def dataset_prompts(dataset_id: int, *, max_comparison_id: int | None = None) -> list[str]:
    """The distinct prompts of a dataset, in the order they first appeared."""
    with session_scope() as session:
        if session.get(Dataset, dataset_id) is None:
            raise JobInputError(f"dataset {dataset_id} does not exist")
        first_seen = (
            select(Comparison.prompt_id, func.min(Comparison.id).label("first_id"))
            .where(Comparison.dataset_id == dataset_id)
            .group_by(Comparison.prompt_id)
        )
        if max_comparison_id is not None:
            first_seen = first_seen.where(Comparison.id <= max_comparison_id)
        first = first_seen.subquery()
        prompts = list(
            session.scalars(
                select(Prompt.text).join(first, first.c.prompt_id == Prompt.id).order_by(first.c.first_id)
            )
        )
    if not prompts:
        raise JobInputError(f"dataset {dataset_id} has no prompts: add comparisons to it first")
    return prompts


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
