"""The Celery task: thin. It takes a job id and hands it to the runner, which claims, runs and records it.

Acknowledgement, result and routing options come from the app's configuration (services/queue/broker.py).
"""

from __future__ import annotations

import socket

from celery.signals import worker_ready

from services.queue.broker import TASK_NAME
from training_jobs import runner
from training_jobs.celery_app import get_app

app = get_app()


@app.task(name=TASK_NAME, bind=True)
def run_job(self, job_id: int) -> str | None:  # type: ignore[no-untyped-def]
    """Run job `job_id`; a failure is recorded in the job row by the runner and re-raised here."""
    return runner.run_job(job_id, worker=self.request.hostname or socket.gethostname())


@worker_ready.connect
def _preload(**_: object) -> None:
    # Import torch, transformers and the trainers once per worker process (about 7 s), not per job.
    import torch  # noqa: F401
    from trl import DPOTrainer, RewardTrainer, SFTTrainer  # noqa: F401
