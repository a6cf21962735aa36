"""The job watchdog: runs in the collector (its lifespan), once per interval, in one collector at a time.

Each tick, under a PostgreSQL advisory lock (several collectors, one tick at a time):
- a running job whose heartbeat is older than RLHF_JOB_HEARTBEAT_TIMEOUT_SECONDS lost its worker (killed,
  out of memory, its machine gone): it goes back to the queue and is sent again while it has attempts left
  (RLHF_JOB_MAX_ATTEMPTS, 2 by default), else it is failed with "worker died (attempt N of M): ...".
  Its old broker message may still sit unacknowledged; if Redis ever redelivers it, only one claim of the
  job can succeed.
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
from sqlalchemy.orm import Session

from services.core.db import get_engine, session_scope
from services.core.enums import JobStatus
from services.core.settings import get_settings
from services.domain import jobs
from services.queue import broker

logger = logging.getLogger(__name__)

LOCK_KEY = zlib.crc32(b"rlhf:job-watchdog")


@dataclass
class TickReport:
    ran: bool = False
    failed: list[int] = field(default_factory=list)  # lost workers' jobs out of attempts (or cancelled)
    retried: list[int] = field(default_factory=list)  # lost workers' jobs queued again
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
                lost = jobs.settle_lost(
                    session,
                    heartbeat_timeout_seconds=settings.job_heartbeat_timeout_seconds,
                    max_attempts=settings.job_max_attempts,
                )
                for job in lost:
                    logger.warning(
                        "job %s: worker died (last heartbeat %s); %s",
                        job.job_id,
                        job.heartbeat_at,
                        "queued again" if job.outcome == JobStatus.QUEUED else f"marked {job.outcome}",
                    )
                    if job.outcome == JobStatus.QUEUED:
                        _send_again(session, job.job_id)
                        report.retried.append(job.job_id)
                    else:
                        report.failed.append(job.job_id)
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


def _send_again(session: Session, job_id: int) -> None:
    try:
        broker.enqueue_job(job_id)
    except Exception:  # the job stays queued without a message: a later tick's requeue pass sends it
        logger.exception("could not enqueue job %s again; the next tick retries", job_id)
        return
    jobs.mark_enqueued(session, job_id)


async def run_forever() -> None:
    """Tick every RLHF_WATCHDOG_INTERVAL_SECONDS until cancelled; a failing tick is logged and retried."""
    interval = get_settings().watchdog_interval_seconds
    while True:
        try:
            await asyncio.to_thread(tick)
        except Exception:
            logger.exception("job watchdog tick failed; retrying in %.0fs", interval)
        await asyncio.sleep(interval)
