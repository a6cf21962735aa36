"""`rlhf demo --policy`: which policies the headless loop trains, and a clear refusal of any other (no stack
is started for a refused policy)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from services.cli.demo_loop import PROFILES, SMOLLM2, TINY_GPT2
from services.core.enums import JobKind
from services.domain.job_params import PpoParams, resolve


def rlhf_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "demo", *args],
        env={**os.environ, "RLHF_STATE_DIR": str(tmp_path), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_demo_refuses_a_policy_it_has_no_profile_for_before_starting_anything(tmp_path: Path) -> None:
    result = rlhf_demo(tmp_path, "--policy", "gpt2")

    assert result.returncode == 2
    assert "builtin:tiny-gpt2 or builtin:smollm2-135m-instruct, not gpt2" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_demo_help_states_each_policy_and_its_time_cap(tmp_path: Path) -> None:
    text = rlhf_demo(tmp_path, "--help").stdout

    assert "builtin:smollm2-135m-instruct" in text and "30 minutes" in text


def test_demo_profiles_are_valid_job_params_and_smollm2_trains_lora_within_30_minutes() -> None:
    for profile in PROFILES.values():
        for kind, params in ((JobKind.SFT, profile.sft), (JobKind.PPO, profile.ppo)):
            resolved = resolve(kind, params, base_model=profile.policy)
            assert resolved.sources["learning_rate"] in ("explicit", "base_model")
    smollm2 = resolve(JobKind.PPO, PROFILES[SMOLLM2].ppo, base_model=SMOLLM2)
    assert (
        isinstance(smollm2.own, PpoParams)
        and smollm2.own.lora is not None
        and smollm2.sources["lora"] == "base_model"
    )
    cap = PROFILES[SMOLLM2].cap_minutes
    assert cap is not None and cap <= 30 and PROFILES[TINY_GPT2].cap_minutes is None
