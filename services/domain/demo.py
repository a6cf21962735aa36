"""The demo dataset that `rlhf up --demo` seeds: comparisons whose text the project wrote itself, so a
newcomer has real-looking work to annotate at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.core.errors import NotFoundError
from services.core.orm import Comparison
from services.domain import annotators, datasets, imports

DEMO_DATASET = "demo"
DEMO_ANNOTATOR = "demo annotator"
# TRL format: the better response is `chosen`. Imported without preferences: humans judge them.
DEMO_FILE = Path(__file__).with_name("demo_comparisons.jsonl")
DEMO_GUIDELINES = (
    "Pick the response that answers the prompt better: correct first, then helpful, then clear.\n"
    'Do not reward length for its own sake. Use "Both bad" when neither response is acceptable, '
    "and Skip when you cannot judge."
)


@dataclass(frozen=True)
class DemoSeed:
    dataset_id: int
    annotator_token: str


def seed(session: Session, *, annotator_token: str | None) -> DemoSeed:
    """Create the demo dataset (once) and a demo annotator; `annotator_token` is the one issued before,
    reused while it is still valid."""
    try:
        dataset = datasets.get_by_name(session, DEMO_DATASET)
    except NotFoundError:
        dataset = datasets.create(session, name=DEMO_DATASET, guidelines=DEMO_GUIDELINES)
    has_comparisons = session.scalar(
        select(Comparison.id).where(Comparison.dataset_id == dataset.id).limit(1)
    )
    if has_comparisons is None:
        with DEMO_FILE.open("rb") as source:
            imports.import_file(session, dataset.id, source, format="trl", with_preferences=False)
    if annotator_token is None or not annotators.token_works(session, annotator_token):
        _, annotator_token = annotators.create(session, name=DEMO_ANNOTATOR)
    return DemoSeed(dataset_id=dataset.id, annotator_token=annotator_token)
