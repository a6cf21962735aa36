"""Comparisons: (prompt, response A, response B) triples to be judged; prompts are stored once by content."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.core.errors import InvalidInputError, NotFoundError
from services.core.orm import Comparison, Dataset, ModelVersion, Prompt
from services.domain import gold
from services.domain.limits import check_json, check_text


@dataclass(frozen=True)
class NewComparison:
    prompt: str
    response_a: str
    response_b: str
    metadata: dict[str, Any] = field(default_factory=dict)
    # The policy versions that wrote each response (generate_comparisons jobs); win rates use them.
    source_a_version_id: int | None = None
    source_b_version_id: int | None = None
    # A gold item's known answer (a, b or tie): services/domain/gold.py.
    gold: str | None = None


def check(item: NewComparison, *, where: str = "") -> None:
    """Refuse an item PostgreSQL cannot store or that breaks a size limit; `where` prefixes the message."""
    check_text(f"{where}prompt", item.prompt)
    check_text(f"{where}response_a", item.response_a)
    check_text(f"{where}response_b", item.response_b)
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
    for index, item in enumerate(items):
        check(item, where=f"items[{index}].")
    _check_versions(session, items)
    ids = insert_batch(session, dataset, items)
    session.commit()
    return ids


def _check_versions(session: Session, items: Sequence[NewComparison]) -> None:
    wanted = {
        v for item in items for v in (item.source_a_version_id, item.source_b_version_id) if v is not None
    }
    if not wanted:
        return
    found = set(session.scalars(select(ModelVersion.id).where(ModelVersion.id.in_(wanted))))
    if missing := wanted - found:
        raise NotFoundError(f"model versions not found: {sorted(missing)}")


def prompt_ids(session: Session, prompts: Sequence[str]) -> dict[str, int]:
    """The id of each distinct prompt text, inserting the new ones.

    ON CONFLICT DO NOTHING makes concurrent inserts of one text safe; hashes go in sorted order so that two
    transactions inserting overlapping sets take the unique-index locks in the same order.
    """
    by_hash = {hashlib.sha256(p.encode("utf-8")).hexdigest(): p for p in prompts}
    hashes = sorted(by_hash)
    session.execute(
        pg_insert(Prompt).on_conflict_do_nothing(index_elements=[Prompt.text_sha256]),
        [{"text": by_hash[h], "text_sha256": h} for h in hashes],
    )
    rows = session.execute(select(Prompt.text_sha256, Prompt.id).where(Prompt.text_sha256.in_(hashes)))
    ids_by_hash = dict(rows.tuples().all())
    return {by_hash[h]: ids_by_hash[h] for h in hashes}


def insert_batch(
    session: Session, dataset: Dataset, items: Sequence[NewComparison], *, votes_each: int = 0
) -> list[int]:
    """Insert already-checked items without committing (the caller owns the transaction).

    `votes_each`: slot-filling votes the caller records with them (an import's known winners).
    """
    if not items:
        return []
    prompts = prompt_ids(session, [item.prompt for item in items])
    rows = [
        {
            "dataset_id": dataset.id,
            "prompt_id": prompts[item.prompt],
            "response_a": item.response_a,
            "response_b": item.response_b,
            "metadata_": item.metadata,
            "source_a_version_id": item.source_a_version_id,
            "source_b_version_id": item.source_b_version_id,
            "vote_count": votes_each,
            "is_complete": item.gold is None and votes_each >= dataset.annotations_per_comparison,
            "gold": item.gold,
        }
        for item in items
    ]
    result = session.execute(insert(Comparison).returning(Comparison.id, sort_by_parameter_order=True), rows)
    return list(result.scalars())
