"""Comparisons: (prompt, response A, response B) triples to be judged, in preference datasets only; prompts
(a text or a conversation) are stored once by content (services/domain/prompts.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from services.core.enums import DatasetKind
from services.core.errors import ConflictError, InvalidInputError, NotFoundError
from services.core.orm import Comparison, Dataset, ModelVersion, Prompt
from services.domain import gold
from services.domain.limits import check_json, check_text
from services.domain.prompts import PromptValue, check_prompt, prompt_ids, stored


@dataclass(frozen=True)
class NewComparison:
    prompt: PromptValue
    response_a: str
    response_b: str
    metadata: dict[str, Any] = field(default_factory=dict)
    # The policy versions that wrote each response (generate_comparisons jobs); win rates use them.
    source_a_version_id: int | None = None
    source_b_version_id: int | None = None
    reference: str | None = None  # a reference answer, for ROUGE-style rewards
    # A gold item's known answer (a, b or tie): services/domain/gold.py.
    gold: str | None = None


def check(item: NewComparison, *, where: str = "") -> None:
    """Refuse an item PostgreSQL cannot store or that breaks a size limit; `where` prefixes the message."""
    check_prompt(item.prompt, f"{where}prompt")
    check_text(f"{where}response_a", item.response_a)
    check_text(f"{where}response_b", item.response_b)
    if item.reference is not None:
        check_text(f"{where}reference", item.reference)
    if not isinstance(item.metadata, dict):
        raise InvalidInputError(f"{where}metadata must be a JSON object")
    check_json(f"{where}metadata", item.metadata)
    gold.check_gold(item.gold, where=where)


def add_comparisons(session: Session, dataset_id: int, items: Sequence[NewComparison]) -> list[int]:
    """Store comparisons in a dataset, in one transaction; return their ids in the order given.

    Checks every item first: one bad item stores nothing.
    """
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id} not found")
    check_preference_dataset(dataset)
    for index, item in enumerate(items):
        check(item, where=f"items[{index}].")
    _check_versions(session, items)
    ids = [cid for cid in insert_batch(session, dataset, items) if cid is not None]
    session.commit()
    return ids


@dataclass(frozen=True)
class ComparisonView:
    """A stored comparison as the admin browses it."""

    id: int
    prompt: PromptValue
    response_a: str
    response_b: str
    gold: str | None
    vote_count: int  # slot-filling votes
    complete: bool


def list_page(
    session: Session, dataset_id: int, *, offset: int, limit: int
) -> tuple[list[ComparisonView], int]:
    """A page of a preference dataset's comparisons in id order (gold items included), and how many it has."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id} not found")
    check_preference_dataset(dataset)
    rows = session.execute(
        select(Comparison, Prompt.text, Prompt.messages)
        .join(Prompt, Prompt.id == Comparison.prompt_id)
        .where(Comparison.dataset_id == dataset_id)
        .order_by(Comparison.id)
        .offset(offset)
        .limit(limit)
    )
    page = [
        ComparisonView(
            c.id, stored(prompt, messages), c.response_a, c.response_b, c.gold, c.vote_count, c.is_complete
        )
        for c, prompt, messages in rows.tuples()
    ]
    count = session.scalar(select(func.count()).where(Comparison.dataset_id == dataset_id)) or 0
    return page, count


def check_preference_dataset(dataset: Dataset) -> None:
    """Comparisons go to preference datasets only (409 otherwise)."""
    if dataset.kind != DatasetKind.PREFERENCE:
        raise ConflictError(
            f"dataset {dataset.name!r} is a {dataset.kind} dataset: comparisons go to preference datasets"
        )


def _check_versions(session: Session, items: Sequence[NewComparison]) -> None:
    wanted = {
        v for item in items for v in (item.source_a_version_id, item.source_b_version_id) if v is not None
    }
    if not wanted:
        return
    found = set(session.scalars(select(ModelVersion.id).where(ModelVersion.id.in_(wanted))))
    if missing := wanted - found:
        raise NotFoundError(f"model versions not found: {sorted(missing)}")


def insert_batch(
    session: Session,
    dataset: Dataset,
    items: Sequence[NewComparison],
    *,
    votes_each: int = 0,
    dedupe: bool = False,
) -> list[int | None]:
    """Insert already-checked items without committing (the caller owns the transaction); the new ids in the
    order given, None for an item left out as a duplicate.

    `votes_each`: slot-filling votes the caller records with them (an import's known winners). `dedupe`:
    leave out an item whose prompt and pair of responses (in either order) the dataset already holds, or an
    earlier item of `items` has; the caller serialises deduplicating writers of one dataset.
    """
    if not items:
        return []
    prompts = prompt_ids(session, [item.prompt for item in items])
    keep = _new_pairs(session, dataset.id, prompts, items) if dedupe else [True] * len(items)
    rows = [
        {
            "dataset_id": dataset.id,
            "prompt_id": prompt_id,
            "response_a": item.response_a,
            "response_b": item.response_b,
            "reference": item.reference,
            "metadata_": item.metadata,
            "source_a_version_id": item.source_a_version_id,
            "source_b_version_id": item.source_b_version_id,
            "vote_count": votes_each,
            "is_complete": item.gold is None and votes_each >= dataset.annotations_per_comparison,
            "gold": item.gold,
        }
        for item, prompt_id, kept in zip(items, prompts, keep, strict=True)
        if kept
    ]
    new_ids = iter(
        session.execute(insert(Comparison).returning(Comparison.id, sort_by_parameter_order=True), rows)
        .scalars()
        .all()
        if rows
        else []
    )
    return [next(new_ids) if kept else None for kept in keep]


# Stored comparisons of the dataset with one of the given (prompt, md5 of response_a, md5 of response_b): an
# index probe per key (comparison_dataset_id_prompt_id_responses_idx). The texts are compared after.
_STORED_PAIRS = text(
    """
    SELECT c.prompt_id, c.response_a, c.response_b
    FROM unnest(CAST(:prompts AS bigint[]), CAST(:hashes_a AS text[]), CAST(:hashes_b AS text[])) AS k(p, a, b)
    JOIN comparison c ON c.dataset_id = :dataset_id AND c.prompt_id = k.p
                     AND md5(c.response_a) = k.a AND md5(c.response_b) = k.b
    """
)


def _md5(value: str) -> str:
    return hashlib.md5(value.encode("utf-8"), usedforsecurity=False).hexdigest()


def _new_pairs(
    session: Session, dataset_id: int, prompts: Sequence[int], items: Sequence[NewComparison]
) -> list[bool]:
    """For each item, whether its (prompt, {response_a, response_b}) is new to the dataset and to the items
    before it."""
    keys = {
        (p, _md5(a), _md5(b))
        for p, item in zip(prompts, items, strict=True)
        for a, b in ((item.response_a, item.response_b), (item.response_b, item.response_a))
    }
    ordered = sorted(keys)
    stored = session.execute(
        _STORED_PAIRS,
        {
            "dataset_id": dataset_id,
            "prompts": [k[0] for k in ordered],
            "hashes_a": [k[1] for k in ordered],
            "hashes_b": [k[2] for k in ordered],
        },
    )
    seen = {(p, *sorted((a, b))) for p, a, b in stored.tuples()}
    keep = []
    for prompt_id, item in zip(prompts, items, strict=True):
        key = (prompt_id, *sorted((item.response_a, item.response_b)))
        keep.append(key not in seen)
        seen.add(key)
    return keep
