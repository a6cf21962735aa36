import asyncio
import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.core.db import async_pool
from services.core.orm import Comparison
from services.domain import annotators, datasets, demo
from services.domain.annotators import Identity
from services.domain.datasets import AnnotatorDataset


def as_annotator(token: str) -> tuple[Identity | None, list[AnnotatorDataset]]:
    """The token's annotator and their datasets, as the collector's /me reads them."""

    async def read() -> tuple[Identity | None, list[AnnotatorDataset]]:
        async with async_pool() as pool, pool.connection() as connection:
            annotator = await annotators.get_by_token(connection, token)
            return annotator, await datasets.for_annotator(connection, annotator) if annotator else []

    return asyncio.run(read())


def test_demo_seed_is_idempotent_and_reuses_a_valid_token(db: Session) -> None:
    first = demo.seed(db, annotator_token=None)
    second = demo.seed(db, annotator_token=first.annotator_token)

    assert second == first
    count = db.scalar(select(func.count()).where(Comparison.dataset_id == first.dataset_id))
    assert count == sum(1 for _ in demo.DEMO_ANSWERS_FILE.open()) >= 40
    annotator, datasets_of_annotator = as_annotator(first.annotator_token)
    assert annotator is not None
    mine = {entry.name: entry for entry in datasets_of_annotator}
    assert mine[demo.DEMO_DATASET].remaining == count


def test_demo_seed_issues_a_new_token_when_the_old_one_is_unknown(db: Session) -> None:
    seeded = demo.seed(db, annotator_token="not-a-token-we-issued")
    assert seeded.annotator_token != "not-a-token-we-issued"
    assert as_annotator(seeded.annotator_token)[0] is not None


def test_the_shipped_demo_answers_are_two_different_answers_to_distinct_demo_prompts() -> None:
    prompts = {json.loads(line)["prompt"] for line in demo.DEMO_FILE.read_text().splitlines()}
    rows = [json.loads(line) for line in demo.DEMO_ANSWERS_FILE.read_text().splitlines()]

    assert {row["prompt"] for row in rows} <= prompts and len({row["prompt"] for row in rows}) == len(rows)
    for row in rows:
        assert row["chosen"].strip() and row["rejected"].strip() and row["chosen"] != row["rejected"]
