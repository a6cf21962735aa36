"""`rlhf train ... --wait`, `rlhf jobs [show ID]`, `rlhf models [promote ID]` against the real collector and worker."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers.jobs import Worker, create_dataset


def rlhf(env: dict[str, str], collector_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**env, "RLHF_COLLECTOR_URL": collector_url, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_train_wait_follows_the_job_and_the_version_can_be_promoted(
    admin: httpx.Client, worker: Worker, jobs_env, collector_url, tiny_gpt2, tmp_path: Path
):
    dataset = create_dataset(admin, 12)
    params = json.dumps({"max_steps": 3, "per_device_train_batch_size": 4, "learning_rate": 1e-3})

    trained = rlhf(
        jobs_env, collector_url, "train", "sft", "--dataset", dataset["name"], "--base-model", str(tiny_gpt2),
        "--params", params, "--wait",
    )  # fmt: skip

    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert "succeeded" in trained.stdout and "train_seconds" in trained.stdout
    queued = re.search(r"job (\d+) queued", trained.stdout)
    version = re.search(r"model version id (\d+)", trained.stdout)
    assert queued is not None and version is not None
    job_id, version_id = int(queued.group(1)), int(version.group(1))
    listed = rlhf(jobs_env, collector_url, "jobs")
    assert listed.returncode == 0 and re.search(rf"\b{job_id}\b.*sft.*succeeded", listed.stdout)
    curves = tmp_path / "curves.png"
    shown = rlhf(jobs_env, collector_url, "jobs", "show", str(job_id), "--curves", str(curves))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"{collector_url}/api/v1/jobs/{job_id}/curves.png" in shown.stdout and "artifacts:" in shown.stdout
    assert curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    promoted = rlhf(jobs_env, collector_url, "models", "promote", str(version_id))
    assert promoted.returncode == 0 and f"promoted policy-{version_id}" in promoted.stdout
    models = rlhf(jobs_env, collector_url, "models")
    assert re.search(rf"policy-{version_id}.*yes", models.stdout)


def test_train_with_bad_params_prints_the_api_error(admin: httpx.Client, jobs_env, collector_url):
    dataset = create_dataset(admin, 0)

    result = rlhf(
        jobs_env, collector_url, "train", "dpo", "--dataset", dataset["name"], "--params", '{"bta": 0.1}'
    )

    assert result.returncode == 1
    assert "unknown parameter params.bta" in result.stdout
