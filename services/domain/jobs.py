"""Training jobs: the job row is the truth about what runs; the broker message only wakes a worker.

Lifecycle: queued → running (claimed by exactly one worker) → succeeded | failed | cancelled.
Every transition is a conditional UPDATE on the current status, so a duplicate broker delivery, a late
worker and the watchdog can never move a job twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Executable, func, select, update
from sqlalchemy.orm import Session

from services.core.enums import FINISHED_JOB_STATUSES, JobKind, JobStatus, ModelKind
from services.core.errors import ConflictError, InvalidInputError, NotFoundError
from services.core.orm import Dataset, Job, ModelVersion
from services.domain import ai_preferences, datasets, job_params, job_start, rewards
from services.domain.limits import check_json

logger = logging.getLogger(__name__)

MAX_BASE_MODEL_CHARS = 500

# Version-id params and the model kind each must point at.
VERSION_PARAMS = {
    "policy_version_id": ModelKind.POLICY,
    "other_policy_version_id": ModelKind.POLICY,
    "reward_model_version_id": ModelKind.REWARD,
}


def create(
    session: Session,
    *,
    kind: str,
    dataset_id: int,
    base_model: str | None = None,
    params: Mapping[str, Any] | None = None,
    enqueue: Callable[[int], None],
) -> Job:
    """Check and store a queued job, commit, then hand it to the broker with `enqueue(job_id)`.

    If the broker is down the job stays queued and the watchdog enqueues it later.
    """
    params = dict(params or {})
    if kind not in list(JobKind):
        raise InvalidInputError(f"kind must be one of {', '.join(JobKind)}, got {kind!r}")
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise InvalidInputError(f"dataset {dataset_id} does not exist")
    if base_model is not None:
        base_model = base_model.strip()
        if not base_model or len(base_model) > MAX_BASE_MODEL_CHARS:
            raise InvalidInputError(f"base_model must be 1 to {MAX_BASE_MODEL_CHARS} characters")
    check_json("params", params)
    job_params.resolve(kind, params)  # names and types first: job_start reads params' ids
    datasets.check_for_job(session, kind, dataset, params)
    _check_references(session, params)
    job_start.check_self_comparison(session, params, base_model)
    resolved = job_params.resolve(
        kind, params, base_model=job_start.defaults_base_model(session, kind, base_model, params)
    )
    job = Job(
        kind=kind,
        dataset_id=dataset_id,
        base_model=base_model,
        params=params,
        config=resolved.record(),  # the worker records it again, with the TRL config it builds
        status=JobStatus.QUEUED,
    )
    session.add(job)
    session.commit()
    try:
        enqueue(job.id)
    except Exception:  # the row is durable; the watchdog re-enqueues jobs whose message never arrived
        logger.exception("could not enqueue job %s; the watchdog will retry", job.id)
        return job
    mark_enqueued(session, job.id)
    return job


def _check_references(session: Session, params: Mapping[str, Any]) -> None:
    for key, model_kind in VERSION_PARAMS.items():
        if key not in params:
            continue
        version = session.get(ModelVersion, params[key])
        if version is None:
            raise InvalidInputError(f"params.{key}: model version {params[key]} does not exist")
        if version.kind != model_kind:
            raise InvalidInputError(
                f"params.{key}: model version {version.name} is a {version.kind} model, not a {model_kind} model"
            )
    ai_preferences.check_judge_version(session, params.get("judge"))
    reward = params.get("reward")
    if reward is not None:
        try:
            rewards.resolve(session, reward)
        except NotFoundError as error:
            raise InvalidInputError(f"params.reward: {error.message}") from error
    target = params.get("target_dataset_id")
    if target is not None and session.get(Dataset, target) is None:
        raise InvalidInputError(f"params.target_dataset_id: dataset {target} does not exist")


def _execute_dml(session: Session, statement: Executable) -> CursorResult[Any]:
    """An UPDATE's result: a CursorResult (with rowcount), which Session.execute's annotation does not say."""
    return cast(CursorResult[Any], session.execute(statement))


def mark_enqueued(session: Session, job_id: int) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(enqueued_at=func.now()))
    session.commit()


def get(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    return job


def list_jobs(
    session: Session, *, status: str | None = None, kind: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Job], int]:
    """Newest first, with the total count of the filtered list."""
    query = select(Job)
    if status is not None:
        query = query.where(Job.status == status)
    if kind is not None:
        query = query.where(Job.kind == kind)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Job.id.desc()).limit(limit).offset(offset))
    return list(rows), count


def cancel(session: Session, job_id: int) -> Job:
    """Ask a job to stop. A queued job is cancelled at once; a running one stops at its next step."""
    job = session.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar_one_or_none()
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    if job.status in FINISHED_JOB_STATUSES:
        session.rollback()
        raise ConflictError(f"job {job_id} already {job.status}")
    job.cancel_requested = True
    if job.status == JobStatus.QUEUED:
        job.status = JobStatus.CANCELLED
        job.finished_at = func.now()
    session.commit()
    session.refresh(job)
    return job


# ---- worker side ----


def claim(session: Session, job_id: int, *, worker: str) -> Job | None:
    """Move a queued job to running for this worker; None when it is not queued (a duplicate delivery,
    a cancelled job, or one the watchdog already settled)."""
    job = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED, Job.cancel_requested.is_(False))
        .values(
            status=JobStatus.RUNNING,
            worker=worker,
            attempts=Job.attempts + 1,
            started_at=func.now(),
            heartbeat_at=func.now(),
            progress=0.0,
            eta_seconds=None,
            # A new attempt starts from nothing: the last attempt's live step and loss are not this run's.
            metrics={},
            error=None,
        )
        .returning(Job)
    ).scalar_one_or_none()
    session.commit()
    return job


def _this_run(job_id: int, attempt: int | None) -> list[ColumnElement[bool]]:
    """The job is running, and (when `attempt` is given) still the run that counted that attempt: a worker
    the watchdog gave up on, which wakes up after its job was queued again and claimed by another worker,
    must not write over that newer run."""
    conditions = [Job.id == job_id, Job.status == JobStatus.RUNNING]
    if attempt is not None:
        conditions.append(Job.attempts == attempt)
    return conditions


def heartbeat(session: Session, job_id: int, *, attempt: int | None = None) -> bool:
    """Record that the worker still lives; False when the job is no longer running (this run)."""
    result = _execute_dml(
        session, update(Job).where(*_this_run(job_id, attempt)).values(heartbeat_at=func.now())
    )
    session.commit()
    return result.rowcount == 1


def report(
    session: Session,
    job_id: int,
    *,
    progress: float,
    eta_seconds: float | None,
    metrics: dict[str, Any],
    log_tail: str,
    attempt: int | None = None,
) -> bool:
    """Write live progress; False when the job is no longer running (so the trainer should stop)."""
    result = _execute_dml(
        session,
        update(Job)
        .where(*_this_run(job_id, attempt))
        .values(progress=progress, eta_seconds=eta_seconds, metrics=metrics, log_tail=log_tail),
    )
    session.commit()
    return result.rowcount == 1


def set_config(session: Session, job_id: int, config: dict[str, Any]) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(config=config))
    session.commit()


def should_stop(session: Session, job_id: int, *, attempt: int | None = None) -> bool:
    """Cancel was asked, or the job is no longer running this run (e.g. the watchdog gave up on its worker)."""
    row = session.execute(
        select(Job.status, Job.cancel_requested, Job.attempts).where(Job.id == job_id)
    ).one_or_none()
    return (
        row is None
        or row.cancel_requested
        or row.status != JobStatus.RUNNING
        or (attempt is not None and row.attempts != attempt)
    )


def _finish(session: Session, job_id: int, *, attempt: int | None = None, **values: Any) -> bool:
    result = _execute_dml(
        session,
        update(Job)
        .where(*_this_run(job_id, attempt))
        .values(finished_at=func.now(), eta_seconds=None, **values),
    )
    return result.rowcount == 1


def mark_succeeded(
    session: Session,
    job_id: int,
    *,
    metrics: dict[str, Any],
    log_tail: str,
    model_version_id: int | None,
    attempt: int | None = None,
) -> bool:
    """Without committing: the caller commits it together with the model version row."""
    return _finish(
        session,
        job_id,
        attempt=attempt,
        status=JobStatus.SUCCEEDED,
        progress=1.0,
        metrics=metrics,
        log_tail=log_tail,
        model_version_id=model_version_id,
    )


def finish_succeeded(
    session: Session, job_id: int, *, metrics: dict[str, Any], log_tail: str, attempt: int | None = None
) -> bool:
    """A job that produces no model version (generate_comparisons)."""
    done = mark_succeeded(
        session, job_id, metrics=metrics, log_tail=log_tail, model_version_id=None, attempt=attempt
    )
    session.commit()
    return done


def finish_failed(
    session: Session, job_id: int, *, error: str, log_tail: str | None = None, attempt: int | None = None
) -> bool:
    values: dict[str, Any] = {"status": JobStatus.FAILED, "error": error}
    if log_tail is not None:
        values["log_tail"] = log_tail
    done = _finish(session, job_id, attempt=attempt, **values)
    session.commit()
    return done


def finish_cancelled(
    session: Session, job_id: int, *, log_tail: str | None = None, attempt: int | None = None
) -> bool:
    values: dict[str, Any] = {"status": JobStatus.CANCELLED}
    if log_tail is not None:
        values["log_tail"] = log_tail
    done = _finish(session, job_id, attempt=attempt, **values)
    session.commit()
    return done


# ---- watchdog side ----


@dataclass(frozen=True)
class LostJob:
    """A running job whose worker stopped heartbeating, and what the watchdog did with it."""

    job_id: int
    heartbeat_at: datetime | None
    outcome: JobStatus  # queued: to be run again; failed: out of attempts; cancelled: cancel was asked


def settle_lost(session: Session, *, heartbeat_timeout_seconds: float, max_attempts: int) -> list[LostJob]:
    """Running jobs whose worker died (no heartbeat for the timeout): back to queued while they have
    attempts left, else failed with "worker died (attempt N of M)"; cancelled when cancel was asked.

    A job that kills its worker (out of memory) is thus run at most `max_attempts` times. The caller sends
    the queued ones to the broker again."""
    rows = session.execute(
        select(Job.id, Job.heartbeat_at, Job.worker, Job.attempts, Job.cancel_requested)
        .where(
            Job.status == JobStatus.RUNNING,
            func.coalesce(Job.heartbeat_at, Job.started_at)
            < func.now() - timedelta(seconds=heartbeat_timeout_seconds),
        )
        .with_for_update(skip_locked=True)
    ).all()
    settled = []
    for row in rows:
        since = row.heartbeat_at.isoformat(timespec="seconds") if row.heartbeat_at else "it started"
        died = (
            f"worker died (attempt {row.attempts} of {max_attempts}): no heartbeat since {since} "
            f"from worker {row.worker or 'unknown'}"
        )
        if row.cancel_requested:
            _finish(session, row.id, attempt=row.attempts, status=JobStatus.CANCELLED, error=died)
            outcome = JobStatus.CANCELLED
        elif row.attempts < max_attempts:
            _back_to_queue(session, row.id, attempt=row.attempts, error=f"{died}; queued again")
            outcome = JobStatus.QUEUED
        else:
            _finish(session, row.id, attempt=row.attempts, status=JobStatus.FAILED, error=died)
            outcome = JobStatus.FAILED
        settled.append(LostJob(row.id, row.heartbeat_at, outcome))
    session.commit()
    return settled


def hand_back(session: Session, job_id: int, *, attempt: int) -> JobStatus | None:
    """A worker stopping gracefully (SIGTERM) returns its running job: queued again without counting the
    attempt (cancelled instead when cancel was asked meanwhile). None when this run was no longer running.
    The caller sends the queued job to the broker again."""
    if _back_to_queue(session, job_id, attempt=attempt, error=None, uncount=True):
        session.commit()
        return JobStatus.QUEUED
    return JobStatus.CANCELLED if finish_cancelled(session, job_id, attempt=attempt) else None


def _back_to_queue(
    session: Session, job_id: int, *, attempt: int, error: str | None, uncount: bool = False
) -> bool:
    """Running → queued unless cancel was asked, without committing; `uncount` takes back the attempt the
    claim counted."""
    conditions = [*_this_run(job_id, attempt), Job.cancel_requested.is_(False)]
    values: dict[str, Any] = {
        "status": JobStatus.QUEUED,
        "error": error,
        "worker": None,
        "heartbeat_at": None,
        "progress": 0.0,
        "eta_seconds": None,
        "enqueued_at": None,  # the watchdog re-sends it if the caller's enqueue never happens
    }
    if uncount:
        values["attempts"] = Job.attempts - 1
    return _execute_dml(session, update(Job).where(*conditions).values(**values)).rowcount == 1


def requeue_candidates(session: Session, *, older_than_seconds: float) -> list[int]:
    """Queued jobs enqueued (or created) longer ago than this: their broker message may be lost."""
    return list(
        session.scalars(
            select(Job.id)
            .where(
                Job.status == JobStatus.QUEUED,
                Job.cancel_requested.is_(False),
                func.coalesce(Job.enqueued_at, Job.created_at)
                < func.now() - timedelta(seconds=older_than_seconds),
            )
            .order_by(Job.id)
        )
    )
