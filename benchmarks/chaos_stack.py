"""The chaos benchmark's stack as its faults see it: `rlhf up`'s start-up and supervision
(benchmarks/scratch_stack.py) on embedded PostgreSQL and Redis in a temporary state directory — or on external
servers, where it works on a scratch database and never restarts or flushes anything it was not explicitly told
it may; how to hurt each part and tell that it is back; and the collector's API as the setup and the faults use
it (the admin's CollectorClient, retried through a restart, and a probe annotator)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import redis

from benchmarks.scratch_stack import ScratchStack
from services.client import CollectorClient, CollectorError
from services.collector.schemas import JobPublic
from services.core.enums import JobKind
from services.core.settings import GPU_QUEUE
from services.modeling.base_models import BUILTIN_TINY_GPT2

POSTGRES_STOP_SIGNALS = {"immediate": signal.SIGQUIT, "fast": signal.SIGINT, "kill": signal.SIGKILL}
ADMIN_RETRY_SECONDS = 120.0
T = TypeVar("T")


class Target:
    """The running stack, and whether its servers are the embedded ones (the faults only hurt those, unless
    told they may hurt external ones)."""

    def __init__(self, stack: ScratchStack, *, embedded_postgres: bool, embedded_redis: bool) -> None:
        self.stack = stack
        self.embedded_postgres = embedded_postgres
        self.embedded_redis = embedded_redis

    def kill_child(self, name: str) -> int:
        """SIGKILL the child process `name` (collector, worker); its pid."""
        pid = self.stack.pid(name)
        os.kill(pid, signal.SIGKILL)
        return pid

    def serving_again(self, name: str, *, old_pid: int) -> bool:
        """A new process `name` runs and answers as `rlhf up` checks it (health URL, the worker's ready line)."""
        child = self.stack.child(name)
        return child.process.pid != old_pid and child.running() and child.answering()

    def stop_embedded_postgres(self, mode: str) -> None:
        """Stop the embedded postmaster; `rlhf up`'s supervisor starts it again."""
        assert self.embedded_postgres
        pid = int((self.stack.state_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, POSTGRES_STOP_SIGNALS[mode])

    def flush_broker(self) -> tuple[str, int]:
        """FLUSHALL on the embedded Redis, FLUSHDB on an external one (its database only); the command, and
        how many job messages were waiting in the queue."""
        client = redis.Redis.from_url(self.stack.redis_url.replace("redis+socket://", "unix://"))
        try:
            waiting = int(client.llen(GPU_QUEUE))
            if self.embedded_redis:
                client.flushall()
                return "FLUSHALL", waiting
            client.flushdb()
            return "FLUSHDB", waiting
        finally:
            client.close()


def note(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> float | None:
    """Seconds until `check()` held (exceptions count as not yet), or None after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if check():
                return round(time.monotonic() - started, 2)
        except (CollectorError, httpx.HTTPError, OSError, ValueError):
            pass
        time.sleep(interval)
    return None


class Platform:
    """What the setup and the faults do through the collector's API: admin calls and a probe annotator."""

    def __init__(self, admin: CollectorClient, job_params: dict[str, Any]) -> None:
        self.admin = admin
        self.job_params = job_params
        self.probe: CollectorClient | None = None
        self.train_dataset_id = 0

    def call(self, request: Callable[[CollectorClient], T]) -> T:
        """An admin call, retried through a restart (the faults run one at a time, so this is rare)."""
        deadline = time.monotonic() + ADMIN_RETRY_SECONDS
        while True:
            try:
                return request(self.admin)
            except CollectorError as error:
                if error.status_code is not None and error.status_code < 500:
                    raise
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no answer for {ADMIN_RETRY_SECONDS:.0f} s: {error}") from error
            time.sleep(1)

    def serves_annotators(self) -> bool:
        """The annotator's hot path answers: the collector runs and reaches PostgreSQL."""
        assert self.probe is not None
        try:
            self.probe.me()
        except CollectorError:
            return False
        return True

    def submit_job(self) -> int:
        job = self.call(
            lambda admin: admin.submit_job(
                JobKind.SFT, self.train_dataset_id, base_model=BUILTIN_TINY_GPT2, params=self.job_params
            )
        )
        return job.id

    def job(self, job_id: int) -> JobPublic:
        return self.call(lambda admin: admin.get_job(job_id))

    def cancel(self, job_id: int) -> None:
        self.call(lambda admin: admin.cancel_job(job_id))

    def unfinished_jobs(self) -> list[int]:
        jobs = self.call(lambda admin: admin.list_jobs(limit=1000)).data
        return [job.id for job in jobs if not job.status.finished]

    def wait_job(self, job_id: int, ready: Callable[[JobPublic], bool], *, timeout: float) -> float | None:
        return wait_until(lambda: ready(self.job(job_id)), timeout=timeout, interval=0.25)
