"""The Celery app's broker side: its settings, the queue it feeds, sending a job, and what is waiting.

Light on purpose: the collector sends jobs through this module and must not pull in torch. The task itself
lives in training_jobs.tasks, which only a worker imports: the worker's app (training_jobs/celery_app.py)
is `create_app(include=[...])` with the same settings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from celery import Celery

from services.core.settings import GPU_QUEUE, get_settings

TASK_NAME = "training_jobs.run_job"
# The module that defines the worker's app: `rlhf worker` names it to Celery (`-A`), it never imports it.
WORKER_APP_MODULE = "training_jobs.celery_app"


def task_id(job_id: int) -> str:
    """The broker message id of a job: derived from the job id so the watchdog can look for it."""
    return f"rlhf-job-{job_id}"


def create_app(*, include: Sequence[str] = ()) -> Celery:
    """A Celery app with the platform's queue settings; a worker's app includes its task modules."""
    settings = get_settings()
    if settings.redis_url is None:
        raise RuntimeError(
            "RLHF_REDIS_URL is not set: run `rlhf up` (embedded Redis) or point it at a server"
        )
    app = Celery("rlhf", broker=settings.redis_url, include=list(include), set_as_current=False)
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


@lru_cache
def get_app() -> Celery:
    """The app that sends jobs (built on first use: the settings come from the process's environment)."""
    return create_app()


def enqueue_job(job_id: int) -> None:
    get_app().send_task(TASK_NAME, args=[job_id], queue=GPU_QUEUE, task_id=task_id(job_id))


def waiting_task_ids(queue: str = GPU_QUEUE) -> set[str]:
    """Ids of the task messages waiting in a queue (the `gpu` queue unless told), not yet delivered.

    Delivered messages sit in kombu's `unacked` hash until acknowledged; the watchdog does not count them,
    because a live worker claims its job within moments of delivery: a job still queued long after its
    message was delivered was delivered to a worker that died before claiming it.
    """
    found: set[str] = set()
    with get_app().connection_for_read() as connection:
        channel: Any = connection.default_channel
        for key in queue_lists(channel, queue):
            for raw in channel.client.lrange(key, 0, -1):
                found.add(_message_task_id(json.loads(raw)))
    return found


def queue_lists(channel: Any, queue: str) -> list[str]:
    """The Redis lists that hold a queue's waiting messages: kombu's Redis transport keeps one per priority step.

    kombu has no public way to read a queue's messages without taking them, nor to name these lists: this is
    the platform's one use of a kombu internal (Channel._q_for_pri, kombu 5.x), kept here so that an upgrade
    that changes it breaks one function, and tests/queue/test_broker.py says so.
    """
    return [channel._q_for_pri(queue, priority) for priority in channel.priority_steps]


def _message_task_id(message: dict[str, Any]) -> str:
    return str(message.get("headers", {}).get("id") or message.get("properties", {}).get("correlation_id"))
