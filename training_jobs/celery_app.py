"""The Celery app (Redis broker), the queue it feeds, and what the watchdog may ask the broker.

Light on purpose: the collector imports this module to enqueue jobs and must not pull in torch. The task
itself lives in training_jobs.tasks, which only the worker imports (through `include`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from celery import Celery

from services.core.settings import GPU_QUEUE, get_settings

TASK_NAME = "training_jobs.run_job"


def task_id(job_id: int) -> str:
    """The broker message id of a job: derived from the job id so the watchdog can look for it."""
    return f"rlhf-job-{job_id}"


@lru_cache
def get_app() -> Celery:
    settings = get_settings()
    if settings.redis_url is None:
        raise RuntimeError(
            "RLHF_REDIS_URL is not set: run `rlhf up` (embedded Redis) or point it at a server"
        )
    app = Celery("rlhf", broker=settings.redis_url, include=["training_jobs.tasks"], set_as_current=False)
    app.conf.update(
        task_default_queue=GPU_QUEUE,
        task_routes={TASK_NAME: {"queue": GPU_QUEUE}},
        # A job is acknowledged when it ends, never when it starts: a worker that dies mid-job leaves its
        # message unacknowledged rather than lost (the job row says what happened; see the watchdog).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One job at a time per worker, none reserved behind it: an idle worker elsewhere takes the next.
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        # Redis redelivers an unacknowledged message after this long: longer than any job, or a job that
        # is still running would be delivered to a second worker.
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout_seconds},
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
    )
    return app


def __getattr__(name: str) -> Any:
    # `celery -A training_jobs.celery_app worker` looks up `app`; building it lazily lets the settings
    # (RLHF_REDIS_URL) come from the environment of whoever starts the process.
    if name in ("app", "celery"):
        return get_app()
    raise AttributeError(name)


def enqueue_job(job_id: int) -> None:
    get_app().send_task(TASK_NAME, args=[job_id], queue=GPU_QUEUE, task_id=task_id(job_id))


def waiting_task_ids() -> set[str]:
    """Ids of the task messages waiting in the `gpu` queue (kombu's Redis transport: one list per priority).

    Delivered messages sit in kombu's `unacked` hash until acknowledged; the watchdog does not count them,
    because a live worker claims its job within moments of delivery: a job still queued long after its
    message was delivered was delivered to a worker that died before claiming it.
    """
    found: set[str] = set()
    with get_app().connection_for_read() as connection:
        channel: Any = connection.default_channel
        for priority in channel.priority_steps:
            for raw in channel.client.lrange(channel._q_for_pri(GPU_QUEUE, priority), 0, -1):
                found.add(_message_task_id(json.loads(raw)))
    return found


def _message_task_id(message: dict[str, Any]) -> str:
    return str(message.get("headers", {}).get("id") or message.get("properties", {}).get("correlation_id"))
