"""The worker's Celery app: the queue's settings (services/queue/broker.py) with the task module included.

`celery -A training_jobs.celery_app worker` (what `rlhf worker` runs) looks up `app`; building it lazily
lets the settings (RLHF_REDIS_URL) come from the environment of whoever starts the process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery

from services.queue.broker import create_app


@lru_cache
def get_app() -> Celery:
    return create_app(include=["training_jobs.tasks"])


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        return get_app()
    raise AttributeError(name)
