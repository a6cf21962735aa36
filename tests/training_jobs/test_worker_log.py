"""A job's log, as `rlhf jobs logs --follow` and the worker show it: each training step once. The worker logs
stdout and stderr at WARNING, so nothing may print there: no log dicts from transformers' PrinterCallback, no
progress bars."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers.jobs import Worker, create_dataset, submit, wait_for_job


def test_each_training_step_is_logged_once_followed_live_and_nothing_at_warning(
    admin: httpx.Client, worker: Worker, tiny_gpt2: Path, collector_url: str
) -> None:
    assert worker.server is not None
    before = len(worker.server.log_text())
    dataset = create_dataset(admin, 12)

    job_id = submit(
        admin, "sft", dataset["id"], base_model=str(tiny_gpt2), params={"max_steps": 3, "logging_steps": 1}
    )
    follow = subprocess.run(
        [sys.executable, "-m", "services.cli", "jobs", "logs", str(job_id), "--follow"],
        env={**os.environ, "RLHF_COLLECTOR_URL": collector_url, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    job = wait_for_job(admin, job_id)

    assert job["status"] == "succeeded", job["error"]
    assert follow.returncode == 0, follow.stdout + follow.stderr
    # Every line of the final log tail, each printed once and in order, then the result.
    followed = [line for line in follow.stdout.splitlines() if re.match(r"\d\d:\d\d:\d\d ", line)]
    assert followed == job["log_tail"].splitlines()
    assert f"job {job_id} succeeded" in follow.stdout
    log = worker.server.log_text()[before:]
    assert re.findall(rf"job {job_id}: step (\d+)/3 loss=", log) == ["1", "2", "3"], log[-3000:]
    warnings = [line for line in log.splitlines() if "WARNING" in line]
    assert warnings == [], "\n".join(warnings[:10])
