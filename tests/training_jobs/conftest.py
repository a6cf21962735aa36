"""A real Celery worker (`rlhf worker`, --pool solo) and a collector whose job watchdog runs fast.

The worker and the collector share the session's PostgreSQL and Redis (tests/conftest.py). Heartbeat and
requeue timeouts are short here so that the lost-worker and lost-message paths run in seconds.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.tiny_models import build_tiny_gpt2
from tests.servers import ServerProcess, running_collector

FINISHED = ("succeeded", "failed", "cancelled")

JOB_ENV = {
    "RLHF_JOB_HEARTBEAT_TIMEOUT_SECONDS": "8",
    "RLHF_WATCHDOG_INTERVAL_SECONDS": "0.5",
    "RLHF_JOB_REQUEUE_AFTER_SECONDS": "3",
    # Two cores shared by the collector, the worker and the test process. One thread: the tiny test models
    # gain nothing from a second, and a second one stalls when the cores are oversubscribed (a 20-step PPO
    # job: 43 s on one thread, 167 s on two, with the machine's load average at 5).
    "OMP_NUM_THREADS": "1",
}


@pytest.fixture(scope="session")
def jobs_env(stack_env: dict[str, str]) -> dict[str, str]:
    return {**stack_env, **JOB_ENV}


@pytest.fixture(scope="session")
def collector_url(jobs_env: dict[str, str], state_dir: Path) -> Iterator[str]:
    """The collector for these tests: as in tests/conftest.py, with the fast watchdog settings."""
    with running_collector(jobs_env, log_path=state_dir / "collector-jobs.log") as url:
        yield url


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

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.fixture(scope="session")
def worker_process(jobs_env: dict[str, str], state_dir: Path, collector_url: str) -> Iterator[Worker]:
    worker = Worker(jobs_env, state_dir)
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def worker(worker_process: Worker) -> Worker:
    worker_process.ensure_running()
    return worker_process


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), training=True)


# ---- data and job helpers ----

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


@pytest.fixture
def make_dataset(admin: httpx.Client) -> Callable[..., dict[str, Any]]:
    return lambda n, **kwargs: create_dataset(admin, n, **kwargs)


@pytest.fixture(scope="module")
def module_admin(collector_url: str, admin_token: str) -> Iterator[httpx.Client]:
    """An admin client for module-scoped fixtures (jobs that several tests build on)."""
    with httpx.Client(
        base_url=collector_url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=60
    ) as client:
        yield client


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
    until = until or (lambda job: job["status"] in FINISHED)
    deadline = time.monotonic() + timeout
    while True:
        job = admin.get(f"/api/v1/jobs/{job_id}").raise_for_status().json()
        if until(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} timed out: {job}")
        time.sleep(0.3)


# ---- a MiniLM reward model shared by the ppo and rloo tests (data and job: tests/training_jobs/sentiment.py) ----


@pytest.fixture(scope="session")
def review_reward(collector_url: str, admin_token: str, worker_process: Worker) -> dict[str, Any]:
    """{"dataset": a film-review dataset (48 prompts), "job": the finished MiniLM reward_model job on it}."""
    from tests.training_jobs.sentiment import create_review_dataset, train_minilm_reward_model

    worker_process.ensure_running()
    with httpx.Client(
        base_url=collector_url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=60
    ) as client:
        dataset = create_review_dataset(client, 48)
        return {"dataset": dataset, "job": train_minilm_reward_model(client, dataset["id"])}
