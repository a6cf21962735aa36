"""rejection_sampling jobs end to end (Llama 2's RS step): n samples per prompt from a policy, scored by a
reward, SFT on the best of each, the reward distribution before and after; a new policy version."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import torch

from services.core.artifacts import version_path
from services.modeling.base_models import BUILTIN_TINY_GPT2, resolve_base_model
from tests.helpers.jobs import submit, wait_for_job
from tests.training_jobs.test_chat_datasets import kind_dataset
from tests.training_jobs.test_rloo import first_attention

PARAMS: dict[str, Any] = {
    "num_samples": 4,
    "max_new_tokens": 12,
    "eval_fraction": 0.2,
    "eval_samples_per_prompt": 2,
    "learning_rate": 1e-3,
    "num_train_epochs": 2,
    "per_device_train_batch_size": 8,
}


def test_rejection_sampling_fine_tunes_on_the_best_samples_of_a_preference_datasets_prompts(
    admin: httpx.Client, worker, review_reward
):
    params = {**PARAMS, "reward_model_version_id": review_reward["job"]["model_version_id"]}
    job = wait_for_job(
        admin,
        submit(
            admin,
            "rejection_sampling",
            review_reward["dataset"]["id"],
            base_model=BUILTIN_TINY_GPT2,
            params=params,
        ),
        timeout=300,
    )

    assert job["status"] == "succeeded", job
    metrics = job["metrics"]
    assert metrics["samples_per_prompt"] == 4 and metrics["train_prompts"] + metrics["eval_prompts"] == 48
    # The best of 4 samples scores above the average sample: what the fine-tuning is taught.
    assert metrics["best_reward_mean"] > metrics["samples_reward_mean"]
    assert {"reward_before", "reward_after", "reward_gain_in_std", "reward_gain_in_std_ci95", "kl"} <= set(
        metrics
    )
    assert metrics["eval_samples"] == 2 * metrics["eval_prompts"] and metrics["kl"] > 0
    assert job["config"]["num_samples"] == 4 and job["config"]["param_sources"]["num_samples"] == "explicit"
    assert job["config"]["lr_scheduler_type"] == "cosine_with_min_lr"  # SFTConfig's fields, resolved
    version = admin.get(f"/api/v1/models/{job['model_version_id']}").raise_for_status().json()
    assert version["kind"] == "policy" and version["base_model"] == BUILTIN_TINY_GPT2
    path = version_path(version["path"])
    assert not torch.equal(first_attention(path), first_attention(resolve_base_model(BUILTIN_TINY_GPT2)))


def test_rejection_sampling_reads_a_prompt_dataset_and_a_named_reward(
    admin: httpx.Client, worker, review_reward
):
    rows: list[dict[str, Any]] = [{"prompt": f"My opinion of film {i}:"} for i in range(8)]
    dataset = kind_dataset(admin, "prompt", rows)
    name = f"rs-review-{review_reward['job']['id']}"
    components = [
        {"model_version_id": review_reward["job"]["model_version_id"], "weight": 1},
        {"function": "length", "target": 4, "weight": 0.5},
    ]
    admin.post("/api/v1/rewards", json={"name": name, "components": components}).raise_for_status()
    params = {**PARAMS, "num_samples": 2, "eval_fraction": 0.25, "max_steps": 1, "reward": name}

    job = wait_for_job(
        admin,
        submit(admin, "rejection_sampling", dataset["id"], base_model=BUILTIN_TINY_GPT2, params=params),
        timeout=300,
    )

    assert job["status"] == "succeeded", job
    assert job["metrics"]["train_prompts"] + job["metrics"]["eval_prompts"] == 8
    assert job["config"]["reward"] == name


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"num_samples": 1}, "params.num_samples must be >= 2"),
        ({"reward": "r", "reward_model_version_id": 1}, "alternatives"),
        ({"recipe": "llama2"}, "params.recipe must name a recipe of rejection_sampling"),
    ],
)
def test_rejection_sampling_refuses_bad_params(
    admin: httpx.Client, make_dataset, params: dict[str, Any], message: str
) -> None:
    dataset = make_dataset(2)
    response = admin.post(
        "/api/v1/jobs", json={"kind": "rejection_sampling", "dataset_id": dataset["id"], "params": params}
    )

    assert response.status_code == 422
    assert message in response.json()["detail"]
