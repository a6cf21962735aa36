"""The job watchdog: runs in the collector (its lifespan), once per interval, in one collector at a time.

Each tick, under a PostgreSQL advisory lock (several collectors, one tick at a time):
- a running job whose heartbeat is older than RLHF_JOB_HEARTBEAT_TIMEOUT_SECONDS lost its worker: it is
  marked failed with "worker lost (no heartbeat since ...)". Its broker message may still sit
  unacknowledged; if Redis ever redelivers it, the worker's claim finds the job settled and skips it.
- a queued job enqueued more than RLHF_JOB_REQUEUE_AFTER_SECONDS ago whose message is not waiting in the
  queue is enqueued again: Redis restarted empty, the enqueue after the commit failed, or the message was
  delivered to a worker that died before claiming the job (a live worker claims within moments, so a
  message in kombu's unacknowledged hash does not count). A duplicate message is harmless: only one claim
  can succeed.

Light imports only (no torch): the collector runs it in its lifespan.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from dataclasses import dataclass, field

from sqlalchemy import text

from services.core.db import get_engine, session_scope
from services.core.settings import get_settings
from services.domain import jobs
from services.queue import broker

logger = logging.getLogger(__name__)

LOCK_KEY = zlib.crc32(b"rlhf:job-watchdog")


@dataclass
class TickReport:
    ran: bool = False
    failed: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)


def tick() -> TickReport:
    """One pass; skipped (ran=False) while another collector holds the lock."""
    settings = get_settings()
    report = TickReport()
    with get_engine().connect() as lock_connection:
        if not lock_connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar():
            return report
        try:
            report.ran = True
            with session_scope() as session:
                lost = jobs.fail_lost(
                    session, heartbeat_timeout_seconds=settings.job_heartbeat_timeout_seconds
                )
                for job_id, heartbeat_at in lost:
                    logger.warning(
                        "job %s: worker lost (last heartbeat %s); marked failed", job_id, heartbeat_at
                    )
                report.failed = [job_id for job_id, _ in lost]
                candidates = jobs.requeue_candidates(
                    session, older_than_seconds=settings.job_requeue_after_seconds
                )
                if candidates:
                    waiting = broker.waiting_task_ids()
                    for job_id in candidates:
                        if broker.task_id(job_id) in waiting:
                            continue
                        broker.enqueue_job(job_id)
                        jobs.mark_enqueued(session, job_id)
                        logger.warning(
                            "job %s: queued but its broker message was gone; enqueued again", job_id
                        )
                        report.requeued.append(job_id)
        finally:
            lock_connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            lock_connection.commit()
    return report


async def run_forever() -> None:
    """Tick every RLHF_WATCHDOG_INTERVAL_SECONDS until cancelled; a failing tick is logged and retried."""
    interval = get_settings().watchdog_interval_seconds
    while True:
        try:
            await asyncio.to_thread(tick)
        except Exception:
            logger.exception("job watchdog tick failed; retrying in %.0fs", interval)
        await asyncio.sleep(interval)
