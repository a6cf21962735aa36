"""grpo jobs end to end: HTTP API → Celery worker → a policy version, rewarded by a MiniLM reward model (its own
tokenizer) or a named reward with a rule function, in full or with LoRA; held-out evaluation before and after."""

from __future__ import annotations

import json

import httpx
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from services.core.artifacts import version_path
from services.modeling.base_models import BUILTIN_TINY_GPT2, resolve_base_model
from tests.helpers.jobs import submit, wait_for_job
from tests.training_jobs.test_rloo import first_attention


def test_grpo_job_with_a_minilm_reward_model_produces_a_loadable_policy_version(
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
        submit(admin, "grpo", review_reward["dataset"]["id"], base_model=BUILTIN_TINY_GPT2, params=params),
        timeout=300,
    )

    assert job["status"] == "succeeded", job
    metrics = job["metrics"]
    assert {"reward_before", "reward_after", "reward_before_std", "kl", "train_seconds"} <= metrics.keys()
    assert len(metrics["reward_gain_in_std_ci95"]) == 2 and isinstance(metrics["warnings"], list)
    assert metrics["grpo_steps"] == 10 and metrics["eval_samples"] == 4 * metrics["eval_prompts"]
    assert metrics["kl"] > 0  # the trained policy moved away from the starting one
    config, sources = job["config"], job["config"]["param_sources"]
    assert config["num_generations"] == 4 and config["beta"] == 0.04 and sources["beta"] == "kind"
    assert config["learning_rate"] == 2e-4 and sources["learning_rate"] == "explicit"

    version = admin.get(f"/api/v1/models/{job['model_version_id']}").raise_for_status().json()
    assert version["kind"] == "policy" and version["base_model"] == BUILTIN_TINY_GPT2
    path = version_path(version["path"])
    steps = [entry for entry in json.loads((path / "training_log.json").read_text()) if "reward" in entry]
    assert steps and all("kl" in entry for entry in steps)
    assert not torch.equal(first_attention(path), first_attention(resolve_base_model(BUILTIN_TINY_GPT2)))
    tokenizer = AutoTokenizer.from_pretrained(path)
    output = AutoModelForCausalLM.from_pretrained(path).generate(
        **tokenizer(["The story (3):"], return_tensors="pt"), max_new_tokens=8, do_sample=False
    )
    assert output.shape[1] > 0


def test_grpo_job_with_lora_optimises_a_named_reward_with_a_rule(admin: httpx.Client, worker, review_reward):
    # A regular expression every non-empty response matches, weighted far above the reward model's scores:
    # the held-out rewards show that the job scored with the combination, model component included.
    name = f"grpo-review-plus-rule-{review_reward['job']['id']}"
    components = [
        {"model_version_id": review_reward["job"]["model_version_id"], "weight": 1},
        {"function": "regex", "pattern": r"\S", "weight": 1000},
    ]
    admin.post("/api/v1/rewards", json={"name": name, "components": components}).raise_for_status()
    params = {
        "max_completion_length": 8,
        "eval_fraction": 0.2,
        "max_steps": 2,
        "learning_rate": 1e-3,
        "reward": name,
        "lora": {"r": 4, "alpha": 8},
    }

    job = wait_for_job(
        admin,
        submit(admin, "grpo", review_reward["dataset"]["id"], base_model=BUILTIN_TINY_GPT2, params=params),
        timeout=300,
    )

    assert job["status"] == "succeeded", job
    assert job["config"]["reward"] == name and job["config"]["param_sources"]["reward"] == "explicit"
    assert 500 < job["metrics"]["reward_before"] < 1000 + 50
    path = version_path(
        admin.get(f"/api/v1/models/{job['model_version_id']}").raise_for_status().json()["path"]
    )
    assert not (path / "adapter_config.json").exists()  # LoRA merged into a plain model
    assert not torch.equal(first_attention(path), first_attention(resolve_base_model(BUILTIN_TINY_GPT2)))
