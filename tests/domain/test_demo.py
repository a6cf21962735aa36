from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.core.models import Comparison
from services.domain import annotators, datasets, demo


def test_demo_seed_is_idempotent_and_reuses_a_valid_token(db: Session) -> None:
    first = demo.seed(db, annotator_token=None)
    second = demo.seed(db, annotator_token=first.annotator_token)

    assert second == first
    count = db.scalar(select(func.count()).where(Comparison.dataset_id == first.dataset_id))
    assert count == sum(1 for _ in demo.DEMO_FILE.open()) >= 50
    annotator = annotators.get_by_token(db, first.annotator_token)
    assert annotator is not None
    mine = {entry.name: entry for entry in datasets.for_annotator(db, annotator)}
    assert mine[demo.DEMO_DATASET].remaining == count


def test_demo_seed_issues_a_new_token_when_the_old_one_is_unknown(db: Session) -> None:
    seeded = demo.seed(db, annotator_token="not-a-token-we-issued")
    assert seeded.annotator_token != "not-a-token-we-issued"
    assert annotators.get_by_token(db, seeded.annotator_token) is not None
