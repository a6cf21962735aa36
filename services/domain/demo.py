"""The demo dataset that `rlhf up --demo` seeds: the default policy's (SmolLM2-135M-Instruct's) own answers to
the project's demo prompts, two per prompt, generated once and shipped with the package, so a newcomer has
real work to annotate at once."""

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
# TRL format. The project's hand-written pairs, the better response `chosen`: `rlhf demo` and the benchmarks
# import them with those known winners; their prompts are the demo prompts.
DEMO_FILE = Path(__file__).with_name("demo_comparisons.jsonl")
# Two SmolLM2 answers to each of the first 40 demo prompts (scripts/generate_demo_answers.py: sampled at
# temperatures 0.7 and 1.1, seed 0, in a seeded order), in TRL's keys with no judgement meant by which is `chosen`: imported
# without preferences, for people to judge.
DEMO_ANSWERS_FILE = Path(__file__).with_name("demo_smollm2_answers.jsonl")
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
        with DEMO_ANSWERS_FILE.open("rb") as source:
            imports.import_file(session, dataset.id, source, format="trl", with_preferences=False)
    if annotator_token is None or not annotators.token_works(session, annotator_token):
        _, annotator_token = annotators.create(session, name=DEMO_ANNOTATOR)
    return DemoSeed(dataset_id=dataset.id, annotator_token=annotator_token)
