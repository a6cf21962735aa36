"""Reward-model scores of comparisons, for uncertainty sampling (docs/quality.md).

A `score_comparisons` job (training_jobs/score_comparisons.py) scores a dataset's open comparisons with a
reward model version: margin = |r(x, y_a) - r(x, y_b)|, stored per comparison and version (comparison_score).
Once all are scored, `rank` turns them into the order `next` walks (the comparison's `reward_margin`): the
smallest margins first, with a share of the comparisons placed at random positions instead (exploration).
The collector asks for such a job when comparisons are added to an uncertainty dataset, when a reward model is
promoted and when a reward gets a new version; never on an annotator's request. A dataset's reward model is
what its `reward` (else `default`) resolves to, when that is one reward model version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from services.core.enums import JobKind, JobStatus, Sampling
from services.core.errors import NotFoundError
from services.core.orm import Dataset, Job, ModelVersion
from services.core.settings import get_settings
from services.domain import jobs, rewards


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
    INSERT INTO comparison_score (comparison_id, model_version_id, margin)
    SELECT comparison_id, :version_id, margin
    FROM unnest(CAST(:ids AS bigint[]), CAST(:margins AS float8[])) AS g(comparison_id, margin)
    ON CONFLICT (comparison_id, model_version_id) DO UPDATE SET margin = EXCLUDED.margin
    """
)

# The sampling key of each open comparison the version scored, in [0, 1]. Those whose random key
# (comparison.sample_key, uniform in [0, 1)) falls below the random share are explorers: their key is
# sample_key / share, a uniform random position. The others' key is the rank of their margin among themselves
# (0 = the smallest). Merged, about `share` of what `next` serves is a uniform random pick and the rest goes
# from the least certain pair up; ranks rather than raw margins keep one scale across reward versions.
_RANK = text(
    """
    WITH scored AS (
        SELECT c.id, c.sample_key < :share AS explorer, c.sample_key, s.margin
        FROM comparison c JOIN comparison_score s ON s.comparison_id = c.id AND s.model_version_id = :version_id
        WHERE c.dataset_id = :dataset_id AND NOT c.is_complete AND c.gold IS NULL
    ), keyed AS (
        SELECT id, CASE WHEN explorer THEN sample_key / :share
                        ELSE percent_rank() OVER (PARTITION BY explorer ORDER BY margin, id) END AS key
        FROM scored
    )
    UPDATE comparison c SET reward_margin = k.key FROM keyed k WHERE c.id = k.id
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
    """Store a version's margins, in one transaction."""
    if not margins:
        return
    ids, values = zip(*margins, strict=True)
    session.execute(_STORE, {"ids": list(ids), "margins": list(values), "version_id": version_id})
    session.commit()


def rank(session: Session, dataset_id: int, version_id: int) -> None:
    """Make the version's margins the dataset's uncertainty order, RLHF_UNCERTAINTY_RANDOM_SHARE of it at
    random (see _RANK)."""
    # A share of 0 picks no explorer (sample_key >= 0) and never divides by 0.
    share = max(get_settings().uncertainty_random_share, 1e-12)
    session.execute(_RANK, {"dataset_id": dataset_id, "version_id": version_id, "share": share})
    session.commit()


@dataclass(frozen=True)
class DatasetReward:
    """The reward model version that scores a dataset for uncertainty sampling, or None and why not."""

    version: ModelVersion | None
    description: str


def dataset_reward(session: Session, dataset: Dataset) -> DatasetReward:
    """What the dataset's `reward` (else `default`) resolves to, when it is one reward model version: the
    promoted one (`default`), or a stored reward whose only component is a reward model (its weight and
    whitening rescale every reward alike, so they leave the order of the margins as it is)."""
    name = dataset.reward or rewards.DEFAULT
    try:
        resolved = rewards.resolve(session, name)
    except NotFoundError:
        return DatasetReward(None, f"the dataset's reward {name!r} does not exist")
    if resolved.reward is None:
        if resolved.promoted is None:
            return DatasetReward(
                None,
                "uncertainty sampling needs a reward: there is no promoted reward model nor reward 'default'",
            )
        return DatasetReward(resolved.promoted, f"reward {name}: reward model {resolved.promoted.name}")
    label = resolved.label
    components = resolved.reward.components
    version_id = components[0].get("model_version_id") if len(components) == 1 else None
    if version_id is None or not components[0].get("weight"):
        return DatasetReward(
            None,
            f"reward {label} is not one reward model; uncertainty sampling scores with a single reward model",
        )
    version = session.get(ModelVersion, version_id)
    assert version is not None  # rewards.create checked it, and a reward's model cannot be deleted
    return DatasetReward(version, f"reward {label}: reward model {version.name}")


def request_scoring(session: Session, dataset_id: int, *, enqueue: Callable[[int], None]) -> Job | None:
    """Queue a score_comparisons job for an uncertainty dataset when its reward model has open comparisons of
    it left to score and no job of that version is queued for it yet; None when none is needed."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or dataset.sampling != Sampling.UNCERTAINTY:
        return None
    reward = dataset_reward(session, dataset).version
    if reward is None:
        return None
    queued = session.scalar(
        select(Job.id).where(
            Job.kind == JobKind.SCORE_COMPARISONS,
            Job.dataset_id == dataset_id,
            Job.status == JobStatus.QUEUED,
            Job.params["reward_model_version_id"].as_integer() == reward.id,
        )
    )
    if queued is not None:
        return None
    if not unscored(session, dataset_id, reward.id, after=0, limit=1):
        # This version scored every open comparison before (the dataset went back to an earlier reward, or a
        # reward model was promoted again): its margins become the order now, without a job.
        rank(session, dataset_id, reward.id)
        return None
    return jobs.create(
        session,
        kind=JobKind.SCORE_COMPARISONS,
        dataset_id=dataset_id,
        params={"reward_model_version_id": reward.id},
        enqueue=enqueue,
    )


def request_rescoring(session: Session, *, enqueue: Callable[[int], None]) -> list[Job]:
    """After a reward model is promoted or a reward gets a new version: a scoring job for every uncertainty
    dataset whose reward model now has open comparisons to score."""
    ids = session.scalars(
        select(Dataset.id).where(Dataset.sampling == Sampling.UNCERTAINTY).order_by(Dataset.id)
    )
    return [job for dataset_id in list(ids) if (job := request_scoring(session, dataset_id, enqueue=enqueue))]


def sampling_state(session: Session, dataset: Dataset) -> str:
    """What `next` does with the dataset's `sampling` now; uncertainty sampling says which reward it scores
    with and how far scoring got, or why it falls back to sequential order."""
    if dataset.sampling != Sampling.UNCERTAINTY:
        return str(dataset.sampling)
    reward = dataset_reward(session, dataset)
    if reward.version is None:
        return f"sequential ({reward.description})"
    scored, open_ = session.execute(
        text(
            "SELECT count(*) FILTER (WHERE reward_margin < 'Infinity'), count(*) FROM comparison "
            "WHERE dataset_id = :dataset_id AND NOT is_complete AND gold IS NULL"
        ),
        {"dataset_id": dataset.id},
    ).one()
    if not scored:
        return f"sequential (uncertainty sampling: no open comparison is scored yet; {reward.description})"
    return (
        f"uncertainty ({scored} of {open_} open comparisons scored; {reward.description}; "
        f"{get_settings().uncertainty_random_share:.0%} picked at random)"
    )
