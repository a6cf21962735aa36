"""What a job module gets to run with (JobContext) and returns (JobResult), and how it reports back.

A job module (`training_jobs/<kind>.py`) exposes `run(ctx: JobContext[<Kind>Params]) -> JobResult`: `ctx.params`
is the kind's typed parameters (services/domain/job_params/kinds.py), already checked and resolved. It passes
`ctx.callbacks` to every transformers/TRL trainer it builds: they write progress (0..1) with an ETA, live
metrics and a log tail to the job row, collect the training curves, and stop the job cooperatively when
cancel was asked. Outside a trainer (loading, evaluating, sampling) the module calls `ctx.progress`,
`ctx.log` and `ctx.raise_if_cancelled` itself.

Under `accelerate launch` every rank builds its own context; only rank 0 writes to the job row, and the
cancel decision is shared between ranks so that they all stop at the same step.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from services.core.db import session_scope
from services.core.enums import JobKind, ModelKind
from services.domain import jobs
from services.domain.job_params import JobParams, ResolvedParams
from training_jobs import shutdown

logger = logging.getLogger(__name__)

# Job-row writes and cancel-flag reads are throttled: a training step can be milliseconds long.
WRITE_INTERVAL_SECONDS = 1.0
CANCEL_CHECK_INTERVAL_SECONDS = 1.0
LOG_TAIL_LINES = 60
LOG_TAIL_CHARS = 8000


class JobInputError(Exception):
    """A readable reason the job cannot run (bad params, empty dataset, model not found) → job.error."""


class JobCancelled(Exception):
    """Cancel was asked (or the job was taken away from this worker): stop, keep nothing."""


@dataclass
class JobResult:
    model_kind: ModelKind | None  # None: no model version (generate_comparisons)
    metrics: dict[str, Any]  # final metrics (the pinned keys are in docs/architecture.md)
    base_model: str  # what the new version was trained from
    # Added to the version's params beside the job's (a classifier's `scoring`: services/modeling/scoring.py)
    version_params: dict[str, Any] = field(default_factory=dict)


def is_main_process() -> bool:
    """Rank 0 of an `accelerate launch` (or the only process)."""
    return int(os.environ.get("RANK", "0")) == 0


def to_json(value: Any) -> Any:
    """A JSON-safe copy (enums, paths, numpy and torch scalars become plain values); NaN/inf become None."""
    return json.loads(json.dumps(value, default=_json_default), parse_constant=lambda _: None)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if hasattr(value, "value") and not callable(value.value):  # enums
        return value.value
    return str(value)


class JobReporter:
    """Throttled writes of one job's progress, metrics and log tail to its row (rank 0 only)."""

    def __init__(self, job_id: int, *, attempt: int, enabled: bool) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.enabled = enabled
        self.lock = threading.Lock()
        self.fraction = 0.0
        self.eta_seconds: float | None = None
        self.metrics: dict[str, Any] = {}
        self.lines: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self.dirty = False
        self.last_write = 0.0
        self.last_cancel_check = 0.0
        self.cancelled = False
        # For the ETA: when progress was first seen above zero, and at what fraction.
        self.rate_origin: tuple[float, float] | None = None

    def progress(self, fraction: float, metrics: dict[str, Any]) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        now = time.monotonic()
        with self.lock:
            if fraction > 0 and self.rate_origin is None:
                self.rate_origin = (now, fraction)
            elif self.rate_origin is not None and fraction > self.rate_origin[1]:
                started, at = self.rate_origin
                self.eta_seconds = (now - started) / (fraction - at) * (1.0 - fraction)
            self.fraction = max(self.fraction, fraction)
            self.metrics.update(to_json(metrics))
            self.dirty = True
        self.flush()

    def log(self, line: str) -> None:
        logger.info("job %s: %s", self.job_id, line)
        with self.lock:
            self.lines.append(f"{time.strftime('%H:%M:%S')} {line}")
            self.dirty = True
        self.flush()

    def log_tail(self) -> str:
        with self.lock:
            return "\n".join(self.lines)[-LOG_TAIL_CHARS:]

    def flush(self, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        with self.lock:
            if not self.dirty or (not force and now - self.last_write < WRITE_INTERVAL_SECONDS):
                return
            fraction, eta_seconds, metrics = self.fraction, self.eta_seconds, dict(self.metrics)
            log_tail = "\n".join(self.lines)[-LOG_TAIL_CHARS:]
            self.dirty = False
            self.last_write = now
        with session_scope() as session:
            written = jobs.report(
                session,
                self.job_id,
                progress=fraction,
                eta_seconds=eta_seconds,
                metrics=metrics,
                log_tail=log_tail,
                attempt=self.attempt,
            )
            if not written:
                # The job is no longer running here (the watchdog failed it, or it was cancelled).
                self.cancelled = True

    def cancel_requested(self) -> bool:
        """Throttled read of the job's cancel flag (rank 0 only; other ranks learn it from rank 0); also
        true once the worker is stopping gracefully (training_jobs/shutdown.py)."""
        if not self.enabled or self.cancelled:
            return self.cancelled
        if shutdown.requested():
            self.cancelled = True
            return True
        now = time.monotonic()
        if now - self.last_cancel_check >= CANCEL_CHECK_INTERVAL_SECONDS:
            self.last_cancel_check = now
            with session_scope() as session:
                self.cancelled = jobs.should_stop(session, self.job_id, attempt=self.attempt)
        return self.cancelled


P = TypeVar("P", bound=JobParams)


@dataclass
class JobContext(Generic[P]):
    job_id: int
    kind: JobKind
    dataset_id: int | None
    base_model: str | None
    # The job's params after the one validation pass: the kind's own (typed) and the TRL values it sets.
    resolved: ResolvedParams[P]
    output_dir: Path  # write the new model version here: a complete HF model dir
    reporter: JobReporter
    # Trainer checkpoints and other throw-away files (never part of the artifact).
    scratch_dir: Path | None = None
    # What the job read: {"dataset_id", "max_preference_id", ...}; the data functions bound their reads by it.
    data_snapshot: dict[str, Any] = field(default_factory=dict)
    # The part of the job's progress that trainers fill (a module with phases outside the trainer narrows it).
    trainer_span: tuple[float, float] = (0.0, 1.0)
    # Logged training metrics, one dict per log event: the curves PNG and training_log.json come from it.
    history: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    callbacks: list[TrainerCallback] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.callbacks:
            self.callbacks = [JobCallback(self)]

    @property
    def params(self) -> P:
        """The kind's own parameters, typed."""
        return self.resolved.own

    @property
    def is_main_process(self) -> bool:
        return self.reporter.enabled

    def record_config(self, config: Any, *, platform: frozenset[str] = frozenset()) -> None:
        """Store the TRL config the job runs with in job.config: every field (dataclasses.asdict), the kind's
        own params, and where each value came from (`platform`: the fields the platform set itself)."""
        self.config = to_json(self.resolved.record(dataclasses.asdict(config), platform=platform))
        if self.is_main_process:
            with session_scope() as session:
                jobs.set_config(session, self.job_id, self.config)

    def progress(self, fraction: float, **metrics: Any) -> None:
        """Report progress (0..1 of the whole job) and live metrics from phases outside a Trainer."""
        self.reporter.progress(fraction, metrics)

    def log(self, line: str) -> None:
        """Append a line to job.log_tail."""
        self.reporter.log(line)

    def raise_if_cancelled(self) -> None:
        """Raise JobCancelled when cancel was asked (throttled database read)."""
        if _agree_across_ranks(self.reporter.cancel_requested()):
            raise JobCancelled(f"job {self.job_id} cancelled")


TrainerT = TypeVar("TrainerT")


def job_trainer(trainer: TrainerT) -> TrainerT:
    """A trainer built with `ctx.callbacks`, without the PrinterCallback that transformers adds when tqdm is off:
    it print()s every log dict, and the Celery worker logs stdout at WARNING, so each step was logged twice
    (JobCallback's line at INFO, then the dict at WARNING). JobCallback logs every step already."""
    trainer.remove_callback(PrinterCallback)  # type: ignore[attr-defined]
    return trainer


def _agree_across_ranks(flag: bool) -> bool:
    """True on every rank when it is True on any: all ranks must stop at the same step or DDP hangs."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    import torch
    from accelerate import PartialState

    tensor = torch.tensor([1.0 if flag else 0.0], device=PartialState().device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item() > 0)


class JobCallback(TrainerCallback):
    """Progress with ETA, live metrics, log lines and curves into the job; cooperative cancel between steps.

    Cancel raises JobCancelled from on_step_end, after the step completed: TRL's PPO loop ignores
    `control.should_training_stop`, and a cancelled job keeps nothing of what it trained.
    """

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx

    def _fraction(self, state: Any) -> float:
        start, end = self.ctx.trainer_span
        done = state.global_step / state.max_steps if state.max_steps else 0.0
        return start + (end - start) * min(done, 1.0)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.ctx.log(f"training started: {state.max_steps} steps")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.ctx.progress(self._fraction(state), step=state.global_step, max_steps=state.max_steps)
        self.ctx.raise_if_cancelled()

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        numbers = {
            key: float(value)
            for key, value in (logs or {}).items()
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        }
        if not numbers:
            return
        self.ctx.history.append({"step": state.global_step, **numbers})
        self.ctx.progress(self._fraction(state), **numbers)
        shown = " ".join(f"{key}={value:.4g}" for key, value in numbers.items())
        self.ctx.log(f"step {state.global_step}/{state.max_steps} {shown}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.ctx.log(f"training finished after {state.global_step} steps")
