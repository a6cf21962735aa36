"""`rlhf train KIND --help`: the kind's own params with defaults and help, and its TRL config (no server needed)."""

from __future__ import annotations

import subprocess
import sys


def rlhf_help(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", *args, "--help"],
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_train_kind_help_lists_its_own_params_and_its_trl_config():
    text = rlhf_help("train", "reward_model")

    assert "probe_learning_rate (float, default 0.001, > 0)" in text
    assert "eval_fraction (float, default 0.1, >= 0, < 1)" in text
    assert "TRL's RewardConfig by its TRL name" in text and "learning_rate=3e-05" in text
    assert "--dataset: a preference dataset" in text
    assert "--dataset: a preference or prompt dataset" in rlhf_help("train", "ppo")


def test_train_help_lists_every_kind():
    text = rlhf_help("train")

    for kind in ("reward_model", "ppo", "sft", "dpo", "rloo", "generate_comparisons"):
        assert kind in text
