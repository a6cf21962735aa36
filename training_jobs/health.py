"""The worker's health signal: a file touched every RLHF_WORKER_HEALTH_INTERVAL_SECONDS from a thread.

A `--pool solo` worker busy in a job cannot answer `celery inspect ping`, so docker-compose's healthcheck
reads this file's age instead (RLHF_WORKER_HEALTH_FILE). The thread runs beside the job, as the job's own
heartbeat does (training_jobs/runner.py): the file goes stale when the process hangs or dies.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from services.core.settings import get_settings

logger = logging.getLogger(__name__)


def start() -> threading.Thread | None:
    """Start touching the health file, if one is configured."""
    settings = get_settings()
    if settings.worker_health_file is None:
        return None
    thread = threading.Thread(
        target=_touch_forever,
        args=(settings.worker_health_file, settings.worker_health_interval_seconds),
        name="worker-health",
        daemon=True,
    )
    thread.start()
    return thread


def _touch_forever(path: Path, interval: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            path.touch()
        except OSError:  # a full or read-only disk: the healthcheck then reports the worker unhealthy
            logger.warning("could not touch the health file %s", path, exc_info=True)
        time.sleep(interval)
