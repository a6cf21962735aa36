"""Helpers for tests of jobs: a real worker subprocess, datasets with an easy signal, submitting and waiting."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from services.core.enums import JobStatus
from tests.helpers.servers import ServerProcess

JOB_ENV = {
    "RLHF_JOB_HEARTBEAT_TIMEOUT_SECONDS": "8",
    "RLHF_WATCHDOG_INTERVAL_SECONDS": "0.5",
    "RLHF_JOB_REQUEUE_AFTER_SECONDS": "3",
    # Two cores shared by the collector, the worker and the test process. One thread: the tiny test models
    # gain nothing from a second, and a second one stalls when the cores are oversubscribed (a 20-step PPO
    # job: 43 s on one thread, 167 s on two, with the machine's load average at 5).
    "OMP_NUM_THREADS": "1",
    "RLHF_WORKER_HEALTH_INTERVAL_SECONDS": "0.5",
}

# Long enough to be caught running: cancel, kill and stop end it long before its last step.
ENDLESS = {"max_steps": 100_000, "per_device_train_batch_size": 2, "learning_rate": 1e-4}


def is_training(job: dict[str, Any]) -> bool:
    return job["status"] == "running" and job["metrics"].get("step", 0) >= 1


class Worker:
    """`rlhf worker` as a subprocess that a test may SIGKILL; `ensure_running` starts a fresh one."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.counter = itertools.count(1)
        self.server: ServerProcess | None = None

    def ensure_running(self) -> None:
        if self.server is not None and self.server.process.poll() is None:
            return
        number = next(self.counter)
        self.server = ServerProcess(
            [
                sys.executable,
                "-m",
                "services.cli",
                "worker",
                "--hostname",
                f"test{number}-{uuid.uuid4().hex[:6]}@%h",
            ],
            env=self.env,
            log_path=self.log_dir / f"worker-{number}.log",
        )
        deadline = time.monotonic() + 120
        while "ready." not in self.server.log_text():
            if self.server.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.server.log_text()[-5000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        assert self.server is not None
        os.kill(self.server.process.pid, signal.SIGKILL)
        self.server.process.wait()

    def terminate(self, *, timeout: float) -> int:
        """SIGTERM (a graceful stop, as `docker-compose stop` sends); the exit code, which must come in time."""
        assert self.server is not None
        os.kill(self.server.process.pid, signal.SIGTERM)
        return self.server.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


GOOD = ["a warm sunny morning", "a kind note from a friend", "a fresh loaf of bread", "a long restful sleep"]
BAD = ["a cold rainy commute", "a rude reply from a stranger", "a burnt slice of toast", "a sleepless night"]


def preference_rows(n: int, *, tag: str = "") -> list[dict[str, str]]:
    """Pairs with an easy signal: the chosen response is always a pleasant one."""
    return [
        {
            "prompt": f"Describe your day ({tag}{i}):",
            "chosen": f" It was {GOOD[i % len(GOOD)]}.",
            "rejected": f" It was {BAD[(i * 3 + 1) % len(BAD)]}.",
        }
        for i in range(n)
    ]


def create_dataset(client: httpx.Client, n: int, *, with_preferences: bool = True) -> dict[str, Any]:
    """A dataset with `n` imported comparisons, each with its known winner as a vote (or none)."""
    name = f"jobs-{uuid.uuid4().hex[:8]}"
    dataset = client.post("/api/v1/datasets", json={"name": name}).raise_for_status().json()
    if n:
        body = "".join(json.dumps(row) + "\n" for row in preference_rows(n, tag=name))
        client.post(
            f"/api/v1/datasets/{dataset['id']}/import",
            params={"format": "trl", "with_preferences": str(with_preferences).lower()},
            content=body.encode(),
        ).raise_for_status()
    return dataset


def submit(admin: httpx.Client, kind: str, dataset_id: int, **body: Any) -> int:
    response = admin.post("/api/v1/jobs", json={"kind": kind, "dataset_id": dataset_id, **body})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    return int(response.json()["id"])


def wait_for_job(
    admin: httpx.Client,
    job_id: int,
    *,
    until: Callable[[dict[str, Any]], bool] | None = None,
    timeout: float = 180,
) -> dict[str, Any]:
    """Poll a job until `until(job)` (default: it finished); fail with the job's state on timeout."""
    until = until or (lambda job: JobStatus(job["status"]).finished)
    deadline = time.monotonic() + timeout
    while True:
        job = admin.get(f"/api/v1/jobs/{job_id}").raise_for_status().json()
        if until(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} timed out: {job}")
        time.sleep(0.3)
