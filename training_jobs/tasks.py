"""The Celery task: thin. It takes a job id and hands it to the runner, which claims, runs and records it.

Acknowledgement, result and routing options come from the app's configuration (services/queue/broker.py).
"""

from __future__ import annotations

import socket

from celery.signals import worker_ready, worker_shutting_down

from services.queue.broker import TASK_NAME
from training_jobs import health, run_dirs, runner, shutdown
from training_jobs.celery_app import get_app

app = get_app()


@app.task(name=TASK_NAME, bind=True)
def run_job(self, job_id: int) -> str | None:  # type: ignore[no-untyped-def]
    """Run job `job_id`; a failure is recorded in the job row by the runner and re-raised here."""
    return runner.run_job(job_id, worker=self.request.hostname or socket.gethostname())


@worker_ready.connect
def _on_ready(**_: object) -> None:
    health.start()
    run_dirs.sweep()  # what a killed worker left behind
    # Import torch, transformers and the trainers once per worker process (about 7 s), not per job.
    import torch  # noqa: F401
    from trl import DPOTrainer, RewardTrainer, SFTTrainer  # noqa: F401


@worker_shutting_down.connect
def _on_shutting_down(**_: object) -> None:
    # Sent from the signal handler: only set a flag (the running job stops at its next step).
    shutdown.request()
