"""A worker that dies or stops mid-job, with a real Celery worker: SIGKILL costs the job an attempt (retried
once, then failed with "worker died"), SIGTERM hands it back to the queue uncounted, a killed worker's run
directories are swept, and a busy worker keeps its health file fresh."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.jobs import ENDLESS, Worker, create_dataset, is_training, submit, wait_for_job


@pytest.fixture(scope="module")
def dataset(module_admin: httpx.Client) -> dict[str, Any]:
    return create_dataset(module_admin, 24)


def _run_dirs(state_dir: Path, job_id: int, attempt: int) -> list[Path]:
    """The run's output directory (in the artifact root) and scratch directory (in the state dir)."""
    return [
        *(state_dir / "artifacts").glob(f".job-{job_id}-a{attempt}-*"),
        *(state_dir / "scratch").glob(f"job-{job_id}-a{attempt}-*"),
    ]


def _wait_until(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.3)


def test_a_job_whose_worker_is_killed_is_retried_once_then_failed(
    admin: httpx.Client, worker: Worker, dataset, tiny_gpt2, state_dir: Path
):
    job_id = submit(admin, "reward_model", dataset["id"], base_model=str(tiny_gpt2), params=ENDLESS)
    first = wait_for_job(admin, job_id, until=is_training)
    assert first["attempts"] == 1
    assert len(_run_dirs(state_dir, job_id, 1)) == 2

    worker.kill()
    worker.ensure_running()

    second = wait_for_job(admin, job_id, until=lambda job: job["attempts"] == 2 and is_training(job))
    assert second["error"] is None
    assert _run_dirs(state_dir, job_id, 1) == []  # swept before the second run began
    assert len(_run_dirs(state_dir, job_id, 2)) == 2

    worker.kill()

    failed = wait_for_job(admin, job_id, timeout=60)
    assert failed["status"] == "failed" and failed["attempts"] == 2
    assert failed["error"].startswith("worker died (attempt 2 of 2): no heartbeat since")
    assert failed["model_version_id"] is None
    worker.ensure_running()
    _wait_until(lambda: _run_dirs(state_dir, job_id, 2) == [], "the new worker swept the last run's dirs")


def test_sigterm_hands_the_running_job_back_to_the_queue_without_counting_an_attempt(
    admin: httpx.Client, worker: Worker, dataset, tiny_gpt2, state_dir: Path
):
    job_id = submit(admin, "reward_model", dataset["id"], base_model=str(tiny_gpt2), params=ENDLESS)
    wait_for_job(admin, job_id, until=is_training)

    assert worker.terminate(timeout=60) == 0  # it stopped at the job's next step, not at its end

    handed_back = admin.get(f"/api/v1/jobs/{job_id}").raise_for_status().json()
    assert handed_back["status"] == "queued" and handed_back["attempts"] == 0
    assert handed_back["worker"] is None and handed_back["error"] is None
    assert _run_dirs(state_dir, job_id, 1) == []
    assert worker.server is not None and "handing the job back to the queue" in worker.server.log_text()

    worker.ensure_running()
    again = wait_for_job(admin, job_id, until=lambda job: job["attempts"] == 1 and is_training(job))
    assert again["status"] == "running"
    admin.post(f"/api/v1/jobs/{job_id}/cancel").raise_for_status()
    assert wait_for_job(admin, job_id, timeout=60)["status"] == "cancelled"


def test_a_busy_worker_keeps_its_health_file_fresh(
    admin: httpx.Client, worker: Worker, dataset, tiny_gpt2, jobs_env: dict[str, str]
):
    health_file = Path(jobs_env["RLHF_WORKER_HEALTH_FILE"])
    job_id = submit(admin, "reward_model", dataset["id"], base_model=str(tiny_gpt2), params=ENDLESS)
    wait_for_job(admin, job_id, until=is_training)
    touched = health_file.stat().st_mtime

    time.sleep(4 * float(jobs_env["RLHF_WORKER_HEALTH_INTERVAL_SECONDS"]))

    assert health_file.stat().st_mtime > touched
    assert admin.get(f"/api/v1/jobs/{job_id}").json()["status"] == "running"  # still busy in the job
    admin.post(f"/api/v1/jobs/{job_id}/cancel").raise_for_status()
    wait_for_job(admin, job_id, timeout=60)
