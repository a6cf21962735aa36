"""The chaos benchmark's faults, one method per kind, and when they happen (seeded random times)."""

from __future__ import annotations

import argparse
import random
import subprocess
import time
from typing import Any

from benchmarks.chaos_stack import Platform, Target, note, wait_until
from services.core.enums import JobStatus

FAULTS = ("collector", "postgres", "worker", "redis")


class Faults:
    """One method per fault kind; each returns what it measured (`recovered_s`: seconds until it serves again)."""

    def __init__(self, target: Target, platform: Platform, args: argparse.Namespace) -> None:
        self.target = target
        self.platform = platform
        self.args = args

    def collector(self) -> dict[str, Any]:
        self.target.kill_child("collector")
        return {
            "how": "SIGKILL",
            "recovered_s": wait_until(self.platform.serves_annotators, timeout=self.args.recovery_timeout),
        }

    def postgres(self) -> dict[str, Any]:
        started = time.monotonic()
        if self.target.embedded_postgres:
            self.target.stop_embedded_postgres(self.args.postgres_stop)
            how = f"embedded, {self.args.postgres_stop} stop, restarted by rlhf up"
            # Down first (an immediate stop takes a moment), so that the recovery is not measured as 0.
            wait_until(lambda: not self.platform.serves_annotators(), timeout=10)
        elif self.args.postgres_restart_command:
            subprocess.run(self.args.postgres_restart_command, shell=True, check=True)
            how = f"external, {self.args.postgres_restart_command!r}"
        else:
            return {"skipped": "external PostgreSQL without --postgres-restart-command: never restarted"}
        served = wait_until(self.platform.serves_annotators, timeout=self.args.recovery_timeout)
        return {"how": how, "recovered_s": None if served is None else round(time.monotonic() - started, 2)}

    def worker(self) -> dict[str, Any]:
        job_id = self.platform.submit_job()
        # In the middle of training: once the trainer reports progress.
        self.platform.wait_job(
            job_id,
            lambda j: j.status.finished or (j.status is JobStatus.RUNNING and j.progress >= 0.2),
            timeout=600,
        )
        job = self.platform.job(job_id)
        if job.status is not JobStatus.RUNNING:
            return {"job_id": job_id, "error": f"the job was {job.status} before it could be killed"}
        killed = self.target.kill_child("worker")
        started = time.monotonic()
        timeout = self.args.recovery_timeout
        worker_back = wait_until(lambda: self.target.serving_again("worker", old_pid=killed), timeout=timeout)
        # The watchdog queues the job again (its first attempt died) and the restarted worker runs it anew.
        rerun = self.platform.wait_job(
            job_id, lambda j: j.attempts >= 2 or j.status.finished, timeout=timeout
        )
        after = self.platform.job(job_id)
        return {
            "how": "SIGKILL during an SFT job",
            "job_id": job_id,
            "progress_at_kill": round(job.progress, 3),
            "worker_back_s": worker_back,
            "job_running_again_s": None if rerun is None else round(time.monotonic() - started, 2),
            "job_then": {"status": after.status.value, "attempts": after.attempts, "error": after.error},
            "recovered_s": None
            if worker_back is None or rerun is None
            else round(time.monotonic() - started, 2),
        }

    def wait_claimed(self, job_ids: list[int], started: float) -> dict[int, float | None]:
        """Seconds from `started` until each job left the queue; each is cancelled then, so the next is taken."""
        claimed: dict[int, float | None] = dict.fromkeys(job_ids)
        deadline = time.monotonic() + self.args.recovery_timeout
        while any(value is None for value in claimed.values()) and time.monotonic() < deadline:
            for job_id in [job_id for job_id, value in claimed.items() if value is None]:
                status = self.platform.job(job_id).status
                if status is not JobStatus.QUEUED:
                    claimed[job_id] = round(time.monotonic() - started, 2)
                    if not status.finished:
                        self.platform.cancel(job_id)
            time.sleep(0.25)
        return claimed

    def redis(self) -> dict[str, Any]:
        if not self.target.embedded_redis and not self.args.allow_redis_flush:
            return {"skipped": "external Redis without --allow-redis-flush: never flushed"}
        # A job running and one waiting in the queue behind it, so that the flush loses a message.
        running = self.platform.submit_job()
        self.platform.wait_job(running, lambda j: j.status is not JobStatus.QUEUED, timeout=600)
        waiting = self.platform.submit_job()
        time.sleep(1.0)
        how, messages = self.target.flush_broker()
        started = time.monotonic()
        submitted_after = self.platform.submit_job()
        self.platform.cancel(running)  # free the worker for the waiting one
        claimed = self.wait_claimed([waiting, submitted_after], started)
        done = all(value is not None for value in claimed.values())
        return {
            "how": f"{how} with job {waiting} waiting in the queue; job {submitted_after} submitted after",
            "messages_flushed": messages,
            "waiting_job_claimed_s": claimed[waiting],
            "job_submitted_after_claimed_s": claimed[submitted_after],
            "recovered_s": max(v for v in claimed.values() if v is not None) if done else None,
        }


def plan(kinds: list[str], rng: random.Random, args: argparse.Namespace) -> list[tuple[float, str]]:
    """Seeded times: one fault in the first half of each equal slot of the chaos window, kinds shuffled."""
    rng.shuffle(kinds)
    start, end = args.calm, args.duration - args.tail
    slot = (end - start) / len(kinds)
    return [(round(start + i * slot + rng.uniform(0, slot / 2), 1), kind) for i, kind in enumerate(kinds)]


def run_schedule(
    faults: Faults, schedule: list[tuple[float, str]], t0: float, results: list[dict[str, Any]]
) -> None:
    for at, kind in schedule:
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        began = round(time.monotonic() - t0, 1)
        note(f"fault: {kind} at {began} s")
        try:
            record = getattr(faults, kind)()
        except Exception as error:  # reported, and the run goes on
            record = {"error": f"{type(error).__name__}: {error}"}
        note(f"  {record}")
        results.append({"kind": kind, "planned_at_s": at, "at_s": began, **record})
