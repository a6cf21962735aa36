"""One job's module run in this process: what it needs of the job row (JobSpec) and what it hands back
(Outcome). The runner calls run_here for a single-process job; each rank of a launched job calls it too
(training_jobs/launch.py)."""

from __future__ import annotations

import importlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.core.db import session_scope
from services.core.enums import JobKind
from services.core.errors import InvalidInputError
from services.domain import job_params, job_start, jobs
from services.domain.job_params import JobParams, ResolvedParams, TrainingParams
from training_jobs import data
from training_jobs.context import JobContext, JobInputError, JobReporter, JobResult
from training_jobs.profiling import StepProfiler


@dataclass(frozen=True)
class JobSpec:
    """What a run needs of the job row, detached from any session."""

    id: int
    kind: JobKind
    dataset_id: int | None
    base_model: str | None
    params: dict[str, Any]  # as given; the job module gets them resolved (resolved_params)
    attempt: int  # the run's attempt: its writes to the job row count only while the row still has it
    defaults_base_model: str | None  # whose per-base-model defaults apply (job_start.py)

    @classmethod
    def load(cls, job_id: int) -> JobSpec:
        with session_scope() as session:
            job = jobs.get(session, job_id)
            params = dict(job.params)
            defaults = job_start.defaults_base_model(session, job.kind, job.base_model, params)
            return cls(
                job.id, JobKind(job.kind), job.dataset_id, job.base_model, params, job.attempts, defaults
            )

    def resolved_params(self) -> ResolvedParams[JobParams]:
        """The same pass that checked the params when the job was queued (services/domain/job_params)."""
        try:
            return job_params.resolve(self.kind, self.params, base_model=self.defaults_base_model)
        except InvalidInputError as error:  # the platform changed since the job was queued
            raise JobInputError(error.message) from None


@dataclass
class Outcome:
    """What a finished run hands to `finish` (also the JSON that rank 0 of a launched run writes)."""

    result: JobResult
    history: list[dict[str, Any]]
    config: dict[str, Any]
    data_snapshot: dict[str, Any]
    train_seconds: float
    log_tail: str


class _DropTrlCacheRename(logging.Filter):
    """TRL 1.12 (PPO's value head, SFT's chunked loss) still passes `past_key_values`, which transformers 5.24
    renames to `cache` with a deprecation warning, once per worker process: nothing a user can act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`past_key_values`/`cache_params` are deprecated" not in record.getMessage()


# One instance: Logger.addFilter adds it once however many jobs the worker runs.
DROP_TRL_CACHE_RENAME = _DropTrlCacheRename()


def quiet_library_output() -> None:
    """No progress bars from datasets (`map`) and transformers (loading weights), nor warnings no user can act
    on: they write to stderr, which the Celery worker logs at WARNING, a line per update. The job's log says
    what the job is doing."""
    import datasets
    from transformers.utils import logging as transformers_logging

    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()
    logging.getLogger("transformers.utils.generic").addFilter(DROP_TRL_CACHE_RENAME)


def run_here(spec: JobSpec, output_dir: Path, scratch_dir: Path, reporter: JobReporter) -> Outcome:
    """Run the job's module in this process (one rank of a launched job runs this too)."""
    from services.modeling.device import device

    if spec.dataset_id is None:
        raise JobInputError("the job's dataset no longer exists")
    output_dir.mkdir(parents=True, exist_ok=True)
    scratch_dir.mkdir(parents=True, exist_ok=True)
    ctx = JobContext(
        job_id=spec.id,
        kind=spec.kind,
        dataset_id=spec.dataset_id,
        base_model=spec.base_model,
        resolved=spec.resolved_params(),
        output_dir=output_dir,
        reporter=reporter,
        scratch_dir=scratch_dir,
    )
    ctx.data_snapshot = data.data_snapshot(spec.dataset_id)
    if isinstance(ctx.params, TrainingParams) and ctx.params.profile_steps:
        ctx.callbacks.append(StepProfiler(ctx, ctx.params.profile_steps))
    quiet_library_output()
    module = importlib.import_module(f"training_jobs.{spec.kind}")
    rank, world = os.environ.get("RANK", "0"), os.environ.get("WORLD_SIZE", "1")
    ctx.log(f"{spec.kind} job {spec.id} started on {device()} (rank {rank} of {world})")
    started = time.monotonic()
    result = module.run(ctx)
    train_seconds = round(time.monotonic() - started, 3)
    ctx.log(f"{spec.kind} job {spec.id} done in {train_seconds:.1f}s")
    reporter.flush(force=True)
    return Outcome(
        result=result,
        history=ctx.history,
        config=ctx.config,
        data_snapshot=ctx.data_snapshot,
        train_seconds=train_seconds,
        log_tail=reporter.log_tail(),
    )
