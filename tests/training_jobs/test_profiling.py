"""params.profile_steps: a job says where its training steps spend their time (training_jobs/profiling.py),
with the platform's own reward work labelled, and trains as it would without it."""

from __future__ import annotations

import json
import re

import httpx

from services.core.artifacts import version_path
from services.modeling.base_models import BUILTIN_TINY_GPT2
from tests.helpers.jobs import submit, wait_for_job


def test_an_rloo_job_profiles_two_steps_and_reports_the_split(
    admin: httpx.Client, worker, review_reward
) -> None:
    params = {
        "max_steps": 4,
        "max_completion_length": 16,
        "eval_fraction": 0.2,
        "eval_samples_per_prompt": 1,
        "reward_model_version_id": review_reward["job"]["model_version_id"],
        "profile_steps": 2,
    }
    job = wait_for_job(
        admin,
        submit(admin, "rloo", review_reward["dataset"]["id"], base_model=BUILTIN_TINY_GPT2, params=params),
        timeout=300,
    )

    assert job["status"] == "succeeded", job
    assert job["config"]["profile_steps"] == 2
    line = re.search(r"profile of (\d) step\(s\): [\d.]+s, (\d+)% in torch operators", job["log_tail"])
    assert line is not None and line.group(1) == "2", job["log_tail"]
    version = admin.get(f"/api/v1/models/{job['model_version_id']}").raise_for_status().json()
    folder = version_path(version["path"])
    profile = json.loads((folder / "profile.json").read_text())
    assert profile["steps"] == 2 and profile["wall_seconds"] > 0
    assert 0 < profile["torch_op_fraction"] <= 1 and int(line.group(2)) == round(
        100 * profile["torch_op_fraction"]
    )
    # The reward model scores each step's completions inside the platform's labelled span.
    assert 0 < profile["platform_reward_seconds"] < profile["wall_seconds"]
    assert profile["device_busy_fraction"] is None  # no GPU here
    assert profile["top_operators"] and all(
        op["name"].startswith("aten::") for op in profile["top_operators"]
    )
    assert "Self CPU" in (folder / "profile.txt").read_text()


def test_profile_steps_out_of_range_is_refused(admin: httpx.Client, review_reward) -> None:
    answer = admin.post(
        "/api/v1/jobs",
        json={"kind": "rloo", "dataset_id": review_reward["dataset"]["id"], "params": {"profile_steps": -1}},
    )
    assert answer.status_code == 422 and "profile_steps" in answer.text
