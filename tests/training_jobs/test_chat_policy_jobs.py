"""Every policy job kind, with and without LoRA, on a tiny random-weight LLaMA that reads SmolLM2's tokenizer
and chat template (tests/helpers/tiny_models.build_tiny_llama), through the real worker: the prompts go
through the template, and what comes out is a plain LLaMA with the template kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from safetensors.torch import load_file
from sqlalchemy import select
from sqlalchemy.orm import Session
from transformers import AutoConfig, AutoTokenizer

from services.core.artifacts import version_path
from services.core.db import get_sessionmaker
from services.core.enums import ModelKind
from services.core.orm import Comparison
from tests.helpers.jobs import Worker, create_dataset, submit, wait_for_job
from tests.helpers.tiny_models import add_version, build_tiny_llama

TRAINING = {"learning_rate": 5e-3, "per_device_train_batch_size": 4, "max_steps": 2, "max_length": 64}
ONLINE = {"learning_rate": 5e-3, "eval_fraction": 0.2, "eval_samples_per_prompt": 1}
PARAMS: dict[str, dict[str, Any]] = {
    "sft": TRAINING,
    "dpo": {**TRAINING, "beta": 0.1},
    "ppo": {
        **ONLINE,
        "total_episodes": 8,
        "per_device_train_batch_size": 4,
        "num_ppo_epochs": 1,
        "response_length": 8,
    },
    "rloo": {
        **ONLINE,
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "num_generations": 2,
        "max_completion_length": 8,
    },
    "grpo": {
        **ONLINE,
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "num_generations": 2,
        "max_completion_length": 8,
    },
    "rejection_sampling": {
        **ONLINE,
        **TRAINING,
        "num_samples": 2,
        "max_new_tokens": 8,
    },
}
ONLINE_KINDS = ("ppo", "rloo", "grpo", "rejection_sampling")
LORA = {"r": 4, "alpha": 8}
# The template's opened assistant turn, as the job logs its first prompt (training_jobs/chat_format.describe).
ASSISTANT_TURN = "<|im_start|>assistant\\n"


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def dataset(module_admin: httpx.Client) -> dict[str, Any]:
    return create_dataset(module_admin, 24)


@pytest.fixture(scope="module")
def reward_version_id(stack_env: dict[str, str]) -> int:
    session = get_sessionmaker()()
    try:
        return add_version(session, kind=ModelKind.REWARD, seed=3).id
    finally:
        session.close()


@pytest.fixture(scope="module")
def run_job(
    module_admin: httpx.Client, worker_process: Worker, dataset, tiny_llama: Path, reward_version_id: int
) -> Callable[[str, bool], dict[str, Any]]:
    """Runs a kind (with or without LoRA) from the tiny LLaMA once per module; later calls reuse the job."""
    done: dict[tuple[str, bool], dict[str, Any]] = {}

    def run(kind: str, lora: bool) -> dict[str, Any]:
        if (kind, lora) not in done:
            worker_process.ensure_running()
            params = dict(PARAMS[kind])
            if kind in ONLINE_KINDS:
                params["reward_model_version_id"] = reward_version_id
            if lora:
                params["lora"] = LORA
            job_id = submit(module_admin, kind, dataset["id"], base_model=str(tiny_llama), params=params)
            done[kind, lora] = wait_for_job(module_admin, job_id, timeout=400)
        return done[kind, lora]

    return run


def _q_proj(path: Path) -> torch.Tensor:
    return load_file(path / "model.safetensors")["model.layers.0.self_attn.q_proj.weight"]


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
@pytest.mark.parametrize("kind", ["sft", "dpo", *ONLINE_KINDS])
def test_policy_job_on_a_chat_llama_trains_through_its_template(
    admin: httpx.Client, run_job, tiny_llama: Path, kind: str, lora: bool
):
    job = run_job(kind, lora)

    assert job["status"] == "succeeded", job
    assert ASSISTANT_TURN in job["log_tail"] and "<|im_start|>user\\n" in job["log_tail"]
    version = admin.get(f"/api/v1/models/{job['model_version_id']}").raise_for_status().json()
    path = version_path(version["path"])
    assert AutoConfig.from_pretrained(path).architectures == ["LlamaForCausalLM"]
    assert not (path / "adapter_config.json").exists()  # LoRA merged into a plain model
    assert AutoTokenizer.from_pretrained(path).chat_template == (
        AutoTokenizer.from_pretrained(tiny_llama).chat_template
    )
    assert not torch.equal(_q_proj(path), _q_proj(tiny_llama))
    if kind in ONLINE_KINDS:
        assert {"reward_before", "reward_after", "kl"} <= job["metrics"].keys()


@pytest.mark.parametrize("lora", [False, True], ids=["base", "lora-trained"])
def test_generate_comparisons_samples_a_chat_llama_through_its_template(
    admin: httpx.Client, worker, run_job, dataset, tiny_llama: Path, db: Session, lora: bool
):
    target = create_dataset(admin, 0)
    # Two samples from one policy: what is tested is the sampling through the template, not a win rate.
    params: dict[str, Any] = {
        "num_prompts": 3,
        "max_new_tokens": 6,
        "target_dataset_id": target["id"],
        "allow_self_comparison": True,
    }
    body: dict[str, Any] = {"base_model": str(tiny_llama)}
    if lora:
        params["policy_version_id"] = run_job("sft", True)["model_version_id"]
        body = {}
    job = wait_for_job(admin, submit(admin, "generate_comparisons", dataset["id"], params=params, **body))

    assert job["status"] == "succeeded", job
    assert ASSISTANT_TURN in job["log_tail"]
    rows = db.scalars(select(Comparison).where(Comparison.dataset_id == target["id"])).all()
    assert len(rows) == 3
    assert all("<|im_" not in c.response_a + c.response_b for c in rows)  # special tokens left out
