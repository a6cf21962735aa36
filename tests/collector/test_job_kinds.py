"""GET /api/v1/job-kinds: what each job kind takes, for forms and scripts (admin only)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from services.core.enums import JobKind


def test_job_kinds_list_every_kind_with_its_params_defaults_and_help(admin: httpx.Client):
    answer = admin.get("/api/v1/job-kinds")

    assert answer.status_code == 200
    kinds = {entry["kind"]: entry for entry in answer.json()["data"]}
    assert set(kinds) == set(JobKind) and answer.json()["count"] == len(JobKind)
    ppo = {param["name"]: param for param in kinds["ppo"]["params"]}
    assert ppo["eval_samples_per_prompt"]["default"] == 4 and ppo["eval_samples_per_prompt"]["types"] == [
        "int"
    ]
    assert ppo["eval_fraction"]["bounds"] == {"gt": 0, "lt": 1} and ppo["eval_fraction"]["help"]
    assert {field["name"] for field in ppo["lora"]["fields"]} >= {"r", "alpha", "target_modules"}
    assert kinds["ppo"]["trl_config"] == "PPOConfig" and kinds["ppo"]["trl_defaults"]["kl_coef"] == 0.05
    assert kinds["generate_comparisons"]["trl_config"] is None
    assert kinds["reward_model"]["default_base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert kinds["sft"]["dataset_kinds"] == ["preference", "demonstration"]
    assert kinds["ppo"]["dataset_kinds"] == ["preference", "prompt"] and kinds["dpo"]["dataset_kinds"] == [
        "preference"
    ]


def test_job_kinds_need_the_admin_token(collector_url: str, make_annotator: Callable[..., httpx.Client]):
    assert httpx.get(f"{collector_url}/api/v1/job-kinds").status_code == 401
    assert make_annotator().get("/api/v1/job-kinds").status_code == 403
