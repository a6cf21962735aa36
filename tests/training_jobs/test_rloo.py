"""rloo jobs end to end: HTTP API → Celery worker → a policy version, rewarded by a MiniLM reward model
through a plain text callable (the reward model keeps its own tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from services.core.artifacts import version_path
from services.modeling.base_models import BUILTIN_TINY_GPT2, resolve_base_model
from tests.helpers.jobs import submit, wait_for_job


def first_attention(path: Path | str) -> torch.Tensor:
    """The first attention block's weights of a GPT-2 policy at `path` (to tell trained from untouched)."""
    model: Any = AutoModelForCausalLM.from_pretrained(path)
    return model.transformer.h[0].attn.c_attn.weight.detach()


def test_rloo_job_with_a_minilm_reward_model_produces_a_loadable_policy_version(
    admin: httpx.Client, worker, review_reward
):
    params = {
        "learning_rate": 2e-4,
        "max_steps": 10,  # over the built-in policy's default (presets.py), to keep the test short
        "max_completion_length": 24,
        "eval_fraction": 0.2,
        "eval_samples_per_prompt": 4,
        "reward_model_version_id": review_reward["job"]["model_version_id"],
    }
    job = wait_for_job(
        admin,
        submit(admin, "rloo", review_reward["dataset"]["id"], base_model=BUILTIN_TINY_GPT2, params=params),
        timeout=300,
    )

    assert job["status"] == "succeeded", job
    metrics = job["metrics"]
    assert {"reward_before", "reward_after", "reward_before_std", "kl", "train_seconds"} <= metrics.keys()
    assert metrics["rloo_steps"] > 0 and metrics["eval_samples"] == 4 * metrics["eval_prompts"]
    assert job["config"]["num_generations"] == 4 and job["config"]["beta"] > 0

    version = admin.get(f"/api/v1/models/{job['model_version_id']}").raise_for_status().json()
    assert version["kind"] == "policy" and version["base_model"] == BUILTIN_TINY_GPT2
    path = version_path(version["path"])
    steps = [entry for entry in json.loads((path / "training_log.json").read_text()) if "reward" in entry]
    assert steps and all("kl" in entry and "entropy" in entry for entry in steps)

    tokenizer = AutoTokenizer.from_pretrained(path)
    assert not torch.equal(first_attention(path), first_attention(resolve_base_model(BUILTIN_TINY_GPT2)))
    model = AutoModelForCausalLM.from_pretrained(path)
    output = model.generate(
        **tokenizer(["The story (3):"], return_tensors="pt"), max_new_tokens=8, do_sample=False
    )
    assert output.shape[1] > 0


def test_rloo_job_optimises_a_named_reward(admin: httpx.Client, worker, review_reward):
    # A regular expression every non-empty response matches, weighted far above the reward model's scores:
    # the held-out rewards show that the job scored with the combination, model component included.
    name = f"review-plus-rule-{review_reward['job']['id']}"
    components = [
        {"model_version_id": review_reward["job"]["model_version_id"], "weight": 1},
        {"function": "regex", "pattern": r"\S", "weight": 1000},
    ]
    admin.post("/api/v1/rewards", json={"name": name, "components": components}).raise_for_status()
    params = {"max_completion_length": 8, "eval_fraction": 0.2, "max_steps": 1, "reward": name}

    job = wait_for_job(
        admin,
        submit(admin, "rloo", review_reward["dataset"]["id"], base_model=BUILTIN_TINY_GPT2, params=params),
        timeout=300,
    )

    assert job["status"] == "succeeded", job
    assert job["config"]["reward"] == name and job["config"]["param_sources"]["reward"] == "explicit"
    assert 500 < job["metrics"]["reward_before"] < 1000 + 50
