"""A real Celery worker (`rlhf worker`, --pool solo) and a collector whose job watchdog runs fast.

The worker and the collector share the session's PostgreSQL and Redis (tests/conftest.py). Heartbeat and
requeue timeouts are short here so that the lost-worker and lost-message paths run in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.jobs import JOB_ENV, Worker, create_dataset
from tests.helpers.servers import running_collector
from tests.helpers.tiny_models import build_tiny_gpt2


@pytest.fixture(scope="session")
def jobs_env(stack_env: dict[str, str], state_dir: Path) -> dict[str, str]:
    return {
        **stack_env,
        **JOB_ENV,
        "RLHF_WORKER_HEALTH_FILE": str(state_dir / "worker-health"),
        # The key ai_feedback's endpoint judges send to the test inference service (test_ai_feedback.py).
        "RLHF_JUDGE_KEY_TESTS": stack_env["RLHF_ADMIN_TOKEN"],
    }


@pytest.fixture(scope="session")
def collector_url(jobs_env: dict[str, str], state_dir: Path) -> Iterator[str]:
    """The collector for these tests: as in tests/conftest.py, with the fast watchdog settings."""
    with running_collector(jobs_env, log_path=state_dir / "collector-jobs.log") as url:
        yield url


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


# ---- a MiniLM reward model shared by the ppo and rloo tests (data and job: tests/helpers/sentiment.py) ----


@pytest.fixture(scope="session")
def review_reward(collector_url: str, admin_token: str, worker_process: Worker) -> dict[str, Any]:
    """{"dataset": a film-review dataset (48 prompts), "job": the finished MiniLM reward_model job on it}."""
    from tests.helpers.sentiment import create_review_dataset, train_minilm_reward_model

    worker_process.ensure_running()
    with httpx.Client(
        base_url=collector_url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=60
    ) as client:
        dataset = create_review_dataset(client, 48)
        return {"dataset": dataset, "job": train_minilm_reward_model(client, dataset["id"])}
