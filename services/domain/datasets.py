"""Datasets: a named pool of rows of one kind (DatasetKind). A preference dataset's rows are comparisons, each
to be judged by `annotations_per_comparison` annotators; the other kinds hold examples (examples.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.core.db import fetch_all
from services.core.enums import DatasetKind, JobKind, Sampling
from services.core.errors import ConflictError, InvalidInputError, NotFoundError
from services.core.orm import Dataset
from services.domain import examples, job_params
from services.domain.annotators import Identity
from services.domain.limits import check_text


@dataclass(frozen=True)
class Progress:
    """Counts of the ordinary comparisons; gold items (outside k, never complete) are counted apart."""

    gold: int = 0
    comparisons: int = 0
    complete: int = 0
    # Votes that fill a slot (a, b, tie); skips are counted apart.
    votes: int = 0
    skips: int = 0
    # Slot-filling votes still needed before every comparison is complete.
    votes_needed: int = 0
    # Rows of a prompt, demonstration or labelled dataset.
    examples: int = 0

    @property
    def remaining(self) -> int:
        return self.comparisons - self.complete


@dataclass(frozen=True)
class DatasetProgress:
    dataset: Dataset
    progress: Progress


@dataclass(frozen=True)
class AnnotatorDataset:
    """A dataset as one annotator sees it."""

    id: int
    name: str
    guidelines: str
    annotations_per_comparison: int
    done_by_me: int
    # Open comparisons this annotator has not judged yet (some may be leased to others right now).
    remaining: int


def create(
    session: Session,
    *,
    name: str,
    kind: str = DatasetKind.PREFERENCE,
    guidelines: str = "",
    annotations_per_comparison: int = 1,
    gold_rate: float = 0.0,
    sampling: str = Sampling.SEQUENTIAL,
    reward: str | None = None,
    commit: bool = True,
) -> Dataset:
    """Create a dataset; commit=False leaves the transaction open (an import creates its dataset in its own)."""
    name = name.strip()
    if not name:
        raise InvalidInputError("name must not be empty")
    check_text("name", name)
    check_text("guidelines", guidelines)
    if not 1 <= annotations_per_comparison <= 100:
        raise InvalidInputError("annotations_per_comparison must be between 1 and 100")
    if kind not in list(DatasetKind):
        raise InvalidInputError(f"kind must be one of {', '.join(DatasetKind)}, got {kind!r}")
    if not 0 <= gold_rate <= 1:
        raise InvalidInputError("gold_rate must be between 0 and 1")
    if sampling not in list(Sampling):
        raise InvalidInputError(f"sampling must be one of {', '.join(Sampling)}")
    dataset = Dataset(
        name=name,
        kind=kind,
        guidelines=guidelines,
        annotations_per_comparison=annotations_per_comparison,
        gold_rate=gold_rate,
        sampling=sampling,
        reward=reward,
    )
    session.add(dataset)
    try:
        session.commit() if commit else session.flush()
    except IntegrityError:
        session.rollback()
        raise ConflictError(f"a dataset named {name!r} already exists") from None
    return dataset


def update(
    session: Session,
    dataset_id: int,
    *,
    guidelines: str | None = None,
    annotations_per_comparison: int | None = None,
    gold_rate: float | None = None,
    sampling: str | None = None,
    reward: str | None = None,
    clear_reward: bool = False,
) -> Dataset:
    """Change a dataset's settings (None: unchanged; clear_reward: the reward back to `default`; a reward is a
    name that need not exist yet: uncertainty sampling says so until it does). A new k (annotations_per_comparison) re-decides which
    comparisons are complete from the votes they hold: raising it reopens them for more annotators, lowering
    it closes those that already have enough. (A vote being stored at that very instant may still be counted
    against the old k: it read k under its own comparison lock, which this update waits for or precedes.)"""
    dataset = session.get(Dataset, dataset_id, with_for_update=True)
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id} not found")
    if guidelines is not None:
        check_text("guidelines", guidelines)
        dataset.guidelines = guidelines
    if gold_rate is not None:
        if not 0 <= gold_rate <= 1:
            raise InvalidInputError("gold_rate must be between 0 and 1")
        dataset.gold_rate = gold_rate
    if sampling is not None:
        if sampling not in list(Sampling):
            raise InvalidInputError(f"sampling must be one of {', '.join(Sampling)}")
        dataset.sampling = sampling
    if reward is not None or clear_reward:
        dataset.reward = reward
    if (
        annotations_per_comparison is not None
        and annotations_per_comparison != dataset.annotations_per_comparison
    ):
        if not 1 <= annotations_per_comparison <= 100:
            raise InvalidInputError("annotations_per_comparison must be between 1 and 100")
        if dataset.kind != DatasetKind.PREFERENCE:
            raise InvalidInputError(
                f"annotations_per_comparison: a {dataset.kind} dataset has no comparisons"
            )
        dataset.annotations_per_comparison = annotations_per_comparison
        session.flush()
        session.execute(_RECOMPLETE, {"dataset_id": dataset.id, "k": annotations_per_comparison})
    session.commit()
    return dataset


_RECOMPLETE = text(
    "UPDATE comparison SET is_complete = (gold IS NULL AND vote_count >= :k) WHERE dataset_id = :dataset_id"
)


def check_for_job(session: Session, kind: str, dataset: Dataset, params: Mapping[str, Any]) -> None:
    """The job's dataset is of a kind the job reads; generate_comparisons writes to a preference dataset."""
    wanted = job_params.params_class(kind).DATASET_KINDS
    if dataset.kind not in wanted:
        raise InvalidInputError(
            f"dataset_id: {kind} reads {' or '.join(sorted(wanted))} datasets; "
            f"dataset {dataset.name!r} is a {dataset.kind} dataset"
        )
    if kind == JobKind.CLASSIFIER:
        _check_label(session, dataset, params.get("label"))
    if kind != JobKind.GENERATE_COMPARISONS:
        return
    target_id = params.get("target_dataset_id")
    target = dataset if target_id is None else session.get(Dataset, target_id)
    if target is not None and target.kind != DatasetKind.PREFERENCE:
        where = "the job's dataset" if target_id is None else "params.target_dataset_id"
        raise InvalidInputError(
            f"{where}: comparisons go to a preference dataset; dataset {target.name!r} is a {target.kind} "
            "dataset (give params.target_dataset_id)"
        )


def _check_label(session: Session, dataset: Dataset, label: Any) -> None:
    """A classifier job's `label` (the one its reward scores) is one of the dataset's labels."""
    names = examples.label_names(session, dataset.id)
    if len(names) < 2:
        raise InvalidInputError(
            f"dataset {dataset.name!r} has {len(names)} distinct label(s): a classifier needs at least two"
        )
    if label is None:
        raise InvalidInputError(
            f"params.label is missing: name the label whose score is the reward, one of dataset "
            f"{dataset.name!r}'s labels {names}"
        )
    if examples.label_name(label) not in names:
        raise InvalidInputError(f"params.label {label!r} is not a label of dataset {dataset.name!r}: {names}")


def get(session: Session, dataset_id: int) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id} not found")
    return dataset


def get_by_name(session: Session, name: str) -> Dataset:
    dataset = session.scalar(select(Dataset).where(Dataset.name == name))
    if dataset is None:
        raise NotFoundError(f"dataset {name!r} not found")
    return dataset


_PROGRESS = text(
    """
    SELECT c.dataset_id,
           count(*) FILTER (WHERE c.gold IS NOT NULL) AS gold,
           count(*) FILTER (WHERE c.gold IS NULL) AS comparisons,
           count(*) FILTER (WHERE c.is_complete AND c.gold IS NULL) AS complete,
           coalesce(sum(c.vote_count) FILTER (WHERE c.gold IS NULL), 0) AS votes,
           coalesce(sum(greatest(d.annotations_per_comparison - c.vote_count, 0))
                    FILTER (WHERE NOT c.is_complete AND c.gold IS NULL), 0) AS votes_needed
    FROM comparison c JOIN dataset d ON d.id = c.dataset_id
    WHERE c.dataset_id = ANY(:ids)
    GROUP BY c.dataset_id
    """
)
_EXAMPLES = text("SELECT dataset_id, count(*) FROM example WHERE dataset_id = ANY(:ids) GROUP BY dataset_id")
_SKIPS = text(
    """
    SELECT c.dataset_id, count(*) FROM preference p JOIN comparison c ON c.id = p.comparison_id
    WHERE c.dataset_id = ANY(:ids) AND p.choice = 'skip' AND c.gold IS NULL AND p.source = 'human'
    GROUP BY c.dataset_id
    """
)


def _progress(session: Session, ids: list[int]) -> dict[int, Progress]:
    if not ids:
        return {}
    skips: dict[int, int] = dict(session.execute(_SKIPS, {"ids": ids}).tuples().all())
    counts: dict[int, int] = dict(session.execute(_EXAMPLES, {"ids": ids}).tuples().all())
    progress = {dataset_id: Progress(examples=count) for dataset_id, count in counts.items()}
    for row in session.execute(_PROGRESS, {"ids": ids}):
        progress[row.dataset_id] = Progress(
            gold=row.gold,
            comparisons=row.comparisons,
            complete=row.complete,
            votes=row.votes,
            skips=skips.get(row.dataset_id, 0),
            votes_needed=row.votes_needed,
        )
    return progress


def with_progress(session: Session, dataset_id: int) -> DatasetProgress:
    dataset = get(session, dataset_id)
    progress = _progress(session, [dataset.id]).get(dataset.id, Progress())
    return DatasetProgress(dataset, progress)


def list_with_progress(session: Session) -> list[DatasetProgress]:
    datasets = list(session.scalars(select(Dataset).order_by(Dataset.id)))
    progress = _progress(session, [d.id for d in datasets])
    return [DatasetProgress(d, progress.get(d.id, Progress())) for d in datasets]


# Counted from this annotator's own votes (cheap) and the open comparisons (an index-only count), rather
# than by probing every open comparison for a vote of theirs: the web form asks after every item.
_FOR_ANNOTATOR = """
    SELECT d.id, d.name, d.guidelines, d.annotations_per_comparison,
           coalesce(mine.done, 0) AS done_by_me,
           (SELECT count(*) FROM comparison c
            WHERE c.dataset_id = d.id AND NOT c.is_complete AND c.gold IS NULL)
             - coalesce(mine.open_done, 0) AS remaining
    FROM dataset d
    LEFT JOIN (
        SELECT c.dataset_id, count(*) AS done, count(*) FILTER (WHERE NOT c.is_complete AND c.gold IS NULL) AS open_done
        FROM preference p JOIN comparison c ON c.id = p.comparison_id
        WHERE p.annotator_id = %(annotator_id)s
        GROUP BY c.dataset_id
    ) mine ON mine.dataset_id = d.id
    WHERE d.kind = 'preference' AND (%(assigned)s::bigint[] IS NULL OR d.id = ANY(%(assigned)s::bigint[]))
    ORDER BY d.id
"""


async def for_annotator(
    connection: psycopg.AsyncConnection[Any], annotator: Identity
) -> list[AnnotatorDataset]:
    """The datasets this annotator may work on, with what they have done in each and what is left for them."""
    assigned = None if annotator.datasets is None else sorted(annotator.datasets)
    rows = await fetch_all(connection, _FOR_ANNOTATOR, {"annotator_id": annotator.id, "assigned": assigned})
    return [AnnotatorDataset(**row) for row in rows]
