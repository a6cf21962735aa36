"""Reward-model scores of comparisons, for uncertainty sampling (docs/quality.md).

A `score_comparisons` job (training_jobs/score_comparisons.py) scores a dataset's open comparisons with a
reward model version: margin = |r(x, y_a) - r(x, y_b)|, stored per comparison and version (comparison_score)
and copied to the comparison's `reward_margin`, the order `next` walks. The collector asks for such a job when
comparisons are added to an uncertainty dataset and when a reward model is promoted; never on an annotator's
request. A dataset's reward model is the promoted reward version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from services.core.enums import JobKind, JobStatus, ModelKind, Sampling
from services.core.orm import Dataset, Job
from services.domain import jobs, model_versions


@dataclass(frozen=True)
class Unscored:
    comparison_id: int
    prompt: str
    response_a: str
    response_b: str


# Open ordinary comparisons the version has not scored, in id order from the cursor.
_UNSCORED = text(
    """
    SELECT c.id, p.text, c.response_a, c.response_b
    FROM comparison c JOIN prompt p ON p.id = c.prompt_id
    WHERE c.dataset_id = :dataset_id AND NOT c.is_complete AND c.gold IS NULL AND c.id > :after
      AND NOT EXISTS (SELECT 1 FROM comparison_score s
                      WHERE s.comparison_id = c.id AND s.model_version_id = :version_id)
    ORDER BY c.id LIMIT :limit
    """
)

_COUNT_UNSCORED = text(
    """
    SELECT count(*) FROM comparison c
    WHERE c.dataset_id = :dataset_id AND NOT c.is_complete AND c.gold IS NULL
      AND NOT EXISTS (SELECT 1 FROM comparison_score s
                      WHERE s.comparison_id = c.id AND s.model_version_id = :version_id)
    """
)

_STORE = text(
    """
    WITH given AS (
        SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:margins AS float8[])) AS g(comparison_id, margin)
    ), stored AS (
        INSERT INTO comparison_score (comparison_id, model_version_id, margin)
        SELECT comparison_id, :version_id, margin FROM given
        ON CONFLICT (comparison_id, model_version_id) DO UPDATE SET margin = EXCLUDED.margin
    )
    UPDATE comparison c SET reward_margin = g.margin FROM given g WHERE c.id = g.comparison_id
    """
)


def unscored(session: Session, dataset_id: int, version_id: int, *, after: int, limit: int) -> list[Unscored]:
    rows = session.execute(
        _UNSCORED, {"dataset_id": dataset_id, "version_id": version_id, "after": after, "limit": limit}
    )
    return [Unscored(*row) for row in rows]


def count_unscored(session: Session, dataset_id: int, version_id: int) -> int:
    count: int = session.execute(
        _COUNT_UNSCORED, {"dataset_id": dataset_id, "version_id": version_id}
    ).scalar_one()
    return count


def store(session: Session, version_id: int, margins: Sequence[tuple[int, float]]) -> None:
    """Store a version's margins and make them the comparisons' sampling order, in one transaction."""
    if not margins:
        return
    ids, values = zip(*margins, strict=True)
    session.execute(_STORE, {"ids": list(ids), "margins": list(values), "version_id": version_id})
    session.commit()


def request_scoring(session: Session, dataset_id: int, *, enqueue: Callable[[int], None]) -> Job | None:
    """Queue a score_comparisons job for an uncertainty dataset when the promoted reward model has open
    comparisons of it left to score and no job of that version is queued for it yet; None when none is needed."""
    dataset = session.get(Dataset, dataset_id)
    reward = model_versions.promoted(session, ModelKind.REWARD)
    if dataset is None or dataset.sampling != Sampling.UNCERTAINTY or reward is None:
        return None
    queued = session.scalar(
        select(Job.id).where(
            Job.kind == JobKind.SCORE_COMPARISONS,
            Job.dataset_id == dataset_id,
            Job.status == JobStatus.QUEUED,
            Job.params["reward_model_version_id"].as_integer() == reward.id,
        )
    )
    if queued is not None or not unscored(session, dataset_id, reward.id, after=0, limit=1):
        return None
    return jobs.create(
        session,
        kind=JobKind.SCORE_COMPARISONS,
        dataset_id=dataset_id,
        params={"reward_model_version_id": reward.id},
        enqueue=enqueue,
    )


def request_rescoring(session: Session, *, enqueue: Callable[[int], None]) -> list[Job]:
    """After a reward model is promoted: a scoring job for every uncertainty dataset that needs one."""
    ids = session.scalars(
        select(Dataset.id).where(Dataset.sampling == Sampling.UNCERTAINTY).order_by(Dataset.id)
    )
    return [job for dataset_id in list(ids) if (job := request_scoring(session, dataset_id, enqueue=enqueue))]


def sampling_state(session: Session, dataset: Dataset) -> str:
    """What `next` does with the dataset's `sampling` now; uncertainty sampling says how far scoring got,
    and that it falls back to sequential order while nothing is scored."""
    if dataset.sampling != Sampling.UNCERTAINTY:
        return str(dataset.sampling)
    reward = model_versions.promoted(session, ModelKind.REWARD)
    if reward is None:
        return "sequential (uncertainty sampling needs a promoted reward model; there is none yet)"
    scored, open_ = session.execute(
        text(
            "SELECT count(*) FILTER (WHERE reward_margin < 'Infinity'), count(*) FROM comparison "
            "WHERE dataset_id = :dataset_id AND NOT is_complete AND gold IS NULL"
        ),
        {"dataset_id": dataset.id},
    ).one()
    if not scored:
        return f"sequential (uncertainty sampling: no open comparison is scored by {reward.name} yet)"
    return f"uncertainty ({scored} of {open_} open comparisons scored; reward model {reward.name})"
