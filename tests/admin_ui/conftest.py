"""The operator console in a real headless Chromium against the real collector, and for the operator's whole
path a real worker (tests/helpers/jobs.py) with the fast watchdog settings of tests/training_jobs.

The worker and the collector (whose watchdog requeues jobs) live for this package only: they share the
session's database and Redis queue, so a console worker left running would take the jobs that later packages'
tests hand to their own worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.annotation_ui.conftest import browser, page  # noqa: F401  (the same Chromium fixtures)
from tests.helpers.jobs import JOB_ENV, Worker
from tests.helpers.servers import running_collector
from tests.helpers.tiny_models import build_tiny_gpt2


@pytest.fixture(scope="session")
def console_env(stack_env: dict[str, str], state_dir: Path) -> dict[str, str]:
    return {**stack_env, **JOB_ENV, "RLHF_WORKER_HEALTH_FILE": str(state_dir / "console-worker-health")}


@pytest.fixture(scope="package")
def collector_url(console_env: dict[str, str], state_dir: Path) -> Iterator[str]:
    with running_collector(console_env, log_path=state_dir / "collector-console.log") as url:
        yield url


@pytest.fixture(scope="package")
def worker(console_env: dict[str, str], state_dir: Path, collector_url: str) -> Iterator[Worker]:
    worker = Worker(console_env, state_dir / "console-worker")
    (state_dir / "console-worker").mkdir(exist_ok=True)
    worker.ensure_running()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("console-tiny-gpt2"), training=True)
