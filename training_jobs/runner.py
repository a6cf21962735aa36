"""Runs one job end to end: claim it, keep its heartbeat, run its kind's module (in this process, or under
`accelerate launch` when params.num_processes > 1), then store the model version atomically.

The Celery task and the command line run the same code:

    python -m training_jobs.runner JOB_ID      # runs a queued job here, without a broker
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from services.core.artifacts import CURVES_FILE, new_version_dir, version_path
from services.core.db import session_scope
from services.core.enums import JobStatus
from services.core.settings import get_settings
from services.domain import jobs, model_versions, retention
from services.domain.job_params import TrainingParams
from services.queue import broker
from training_jobs import run_dirs, shutdown
from training_jobs.context import JobCancelled, JobInputError, JobReporter, to_json
from training_jobs.curves import plot_curves
from training_jobs.execution import JobSpec, Outcome, run_here

logger = logging.getLogger(__name__)

VERSION_FILE = "rlhf_version.json"


class Heartbeat:
    """A thread that stamps job.heartbeat_at; when the job stops being `running` (the watchdog declared the
    worker lost, or the row changed under us) it makes the training loop stop at its next step."""

    def __init__(self, job_id: int, reporter: JobReporter) -> None:
        self.job_id = job_id
        self.reporter = reporter
        timeout = get_settings().job_heartbeat_timeout_seconds
        self.interval = min(max(timeout / 4, 0.2), 30.0)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-job-{job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _beat(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                with session_scope() as session:
                    if not jobs.heartbeat(session, self.job_id, attempt=self.reporter.attempt):
                        self.reporter.cancelled = True
            except Exception:  # a database hiccup: the next beat retries; the timeout is several beats long
                logger.warning("heartbeat of job %s failed", self.job_id, exc_info=True)


def run_job(job_id: int, *, worker: str) -> str | None:
    """Claim and run a queued job; return its final status, or None when it was not ours to run.

    A failure is recorded in the job row (a readable job.error) and re-raised.
    """
    with session_scope() as session:
        claimed = jobs.claim(session, job_id, worker=worker)
    if claimed is None:
        logger.info("job %s is not queued (duplicate delivery, cancelled or settled): skipped", job_id)
        return None
    attempt = claimed.attempts
    run_dirs.sweep()  # a killed worker's directories, this job's earlier attempt among them
    spec = dataclasses.replace(JobSpec.load(job_id), attempt=attempt)
    dirs = run_dirs.for_run(job_id, attempt)
    output_dir, scratch_dir = dirs.output, dirs.scratch
    reporter = JobReporter(job_id, attempt=attempt, enabled=True)
    num_processes = 1
    try:
        params = spec.resolved_params().own
        num_processes = params.num_processes if isinstance(params, TrainingParams) else 1
        with Heartbeat(job_id, reporter):
            if num_processes > 1:
                from training_jobs.launch import run_launched

                outcome = run_launched(spec, output_dir, scratch_dir, num_processes=num_processes)
            else:
                outcome = run_here(spec, output_dir, scratch_dir, reporter)
            return finish(spec, outcome, output_dir)
    except JobCancelled:
        if shutdown.requested():
            return _hand_back(job_id, attempt)
        reporter.log("stopped: cancel was requested")
        with session_scope() as session:
            jobs.finish_cancelled(
                session,
                job_id,
                log_tail=reporter.log_tail() if num_processes == 1 else None,
                attempt=attempt,
            )
        return "cancelled"
    except JobInputError as error:
        _record_failure(job_id, str(error), reporter, num_processes)
        raise
    except Exception as error:
        reporter.log(traceback.format_exc(limit=8))
        _record_failure(job_id, f"{type(error).__name__}: {error}", reporter, num_processes)
        raise
    finally:
        run_dirs.remove(dirs)


def _hand_back(job_id: int, attempt: int) -> str | None:
    """The worker is stopping gracefully: the job goes back to the queue, its attempt not counted."""
    logger.warning("job %s: the worker is stopping; handing the job back to the queue", job_id)
    with session_scope() as session:
        status = jobs.hand_back(session, job_id, attempt=attempt)
        if status == JobStatus.QUEUED:
            try:
                broker.enqueue_job(job_id)
                jobs.mark_enqueued(session, job_id)
            except Exception:  # the job is queued without a message: the watchdog sends it again
                logger.exception("could not enqueue job %s again; the watchdog will", job_id)
    return status


def _record_failure(job_id: int, error: str, reporter: JobReporter, num_processes: int) -> None:
    logger.error("job %s failed: %s", job_id, error)
    with session_scope() as session:
        jobs.finish_failed(
            session,
            job_id,
            error=error,
            log_tail=reporter.log_tail() if num_processes == 1 else None,
            attempt=reporter.attempt,
        )


def finish(spec: JobSpec, outcome: Outcome, output_dir: Path) -> str | None:
    """Store the result: the artifact directory (renamed into place), then the version row and the job's
    final state in one transaction. None when the job stopped being ours meanwhile (nothing is kept)."""
    result = outcome.result
    # Every job says what its figures are worth (training_jobs/metric_warnings.py), [] when nothing is wrong.
    metrics = to_json({"warnings": [], **result.metrics, "train_seconds": outcome.train_seconds})
    if result.model_kind is None:
        with session_scope() as session:
            done = jobs.finish_succeeded(
                session, spec.id, metrics=metrics, log_tail=outcome.log_tail, attempt=spec.attempt
            )
        return "succeeded" if done else None
    if not (output_dir / "config.json").is_file():
        raise RuntimeError(f"the {spec.kind} job returned a model but saved none in its output directory")
    with session_scope() as session:
        version_id = model_versions.reserve_id(session)
    name = model_versions.version_name(result.model_kind, version_id)
    _write_metadata(spec, outcome, output_dir, name=name, metrics=metrics)
    with new_version_dir(name) as staged:
        for entry in output_dir.iterdir():
            entry.rename(staged / entry.name)
    with session_scope() as session:
        version = model_versions.create_for_job(
            session,
            version_id=version_id,
            job_id=spec.id,
            kind=result.model_kind,
            base_model=result.base_model,
            path=name,
            metrics=metrics,
            params={**spec.params, **result.version_params},
            data_snapshot=outcome.data_snapshot,
            log_tail=outcome.log_tail,
            attempt=spec.attempt,
        )
    if version is None:
        logger.warning("job %s stopped running before its version was stored; discarding %s", spec.id, name)
        shutil.rmtree(version_path(name), ignore_errors=True)
        return None
    logger.info("job %s produced model version %s", spec.id, name)
    keep = get_settings().keep_unpromoted_versions
    if keep is not None:
        apply_retention(kind=result.model_kind, base_model=result.base_model, keep=keep)
    return "succeeded"


def apply_retention(*, kind: str, base_model: str, keep: int) -> None:
    """RLHF_KEEP_UNPROMOTED_VERSIONS after a job that made a version: prune that version's kind and base model.
    The job has succeeded by then: a failure here is logged, and the next job or `rlhf models prune` retries."""
    try:
        with session_scope() as session:
            pruned = retention.prune_unpromoted(session, keep=keep, kind=kind, base_model=base_model)
    except (SQLAlchemyError, OSError):
        logger.warning(
            "could not delete old unpromoted versions (RLHF_KEEP_UNPROMOTED_VERSIONS)", exc_info=True
        )
        return
    for version in pruned.deleted:
        logger.info("deleted %s (older than the %s newest unpromoted %s versions)", version.name, keep, kind)


def _write_metadata(
    spec: JobSpec, outcome: Outcome, output_dir: Path, *, name: str, metrics: dict[str, Any]
) -> None:
    result = outcome.result
    record = {
        "name": name,
        "kind": result.model_kind,
        "base_model": result.base_model,
        "job_id": spec.id,
        "job_kind": spec.kind,
        "dataset_id": spec.dataset_id,
        "params": {**spec.params, **result.version_params},
        "data_snapshot": outcome.data_snapshot,
        "metrics": metrics,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    files = {
        VERSION_FILE: record,
        "metrics.json": metrics,
        "training_config.json": outcome.config,
        "training_log.json": outcome.history,
    }
    for filename, content in files.items():
        (output_dir / filename).write_text(json.dumps(to_json(content), indent=2, sort_keys=True) + "\n")
    plot_curves(outcome.history, output_dir / CURVES_FILE, title=f"{name} ({spec.kind} job {spec.id})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a queued training job in this process.")
    parser.add_argument("job_id", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        status = run_job(args.job_id, worker=f"cli@{socket.gethostname()}")
    except JobInputError as error:
        print(f"job {args.job_id} failed: {error}")
        return 1
    print(f"job {args.job_id}: {status or 'not queued, nothing to do'}")
    return 0 if status in ("succeeded", "cancelled") else 1


if __name__ == "__main__":
    raise SystemExit(main())
