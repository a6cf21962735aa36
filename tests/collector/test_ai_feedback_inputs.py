"""Bad input to what AI feedback added (source filters, ai_feedback params): a 422 that names the problem, and
nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from tests.helpers.collector import table_counts

ENDPOINT = {"base_url": "http://127.0.0.1:9/v1", "model": "m"}

BAD_JOBS: dict[str, tuple[dict[str, Any], str]] = {
    "no judge": ({}, "params.judge is missing"),
    "two judges": ({"judge": {**ENDPOINT, "base_model": "builtin:tiny-gpt2"}}, "params.judge must be one of"),
    "empty judge": ({"judge": {}}, "params.judge must be one of"),
    "endpoint without model": ({"judge": {"base_url": "http://x/v1"}}, "needs both base_url and model"),
    "endpoint not http": ({"judge": {"base_url": "ftp://x", "model": "m"}}, "http:// or https://"),
    "api key given instead of its variable": (
        {"judge": {**ENDPOINT, "api_key_env": "sk-secret key"}},
        "must name an environment variable",
    ),
    "a worker secret as the judge's key": (
        {"judge": {**ENDPOINT, "api_key_env": "RLHF_ADMIN_TOKEN"}},
        "RLHF_ADMIN_TOKEN is not a judge's key variable",
    ),
    "the inference key sent elsewhere": (
        {
            "judge": {
                "base_url": "https://judge.example/v1",
                "model": "m",
                "api_key_env": "RLHF_INFERENCE_API_KEY",
            }
        },
        "RLHF_INFERENCE_API_KEY is not a judge's key variable",
    ),
    "unknown judge key": ({"judge": {**ENDPOINT, "api_key": "sk"}}, "unknown key params.judge.api_key"),
    "judge version missing": ({"judge": {"model_version_id": 999_999_999}}, "does not exist"),
    "template without responses": (
        {"judge": ENDPOINT, "prompt_template": "{prompt} which?"},
        "must contain {response_a}, {response_b}",
    ),
    "template unknown placeholder": (
        {"judge": ENDPOINT, "prompt_template": "{prompt}{response_a}{response_b}{rubric}"},
        "unknown placeholder(s) rubric",
    ),
    "template stray brace": (
        {"judge": ENDPOINT, "prompt_template": "{prompt}{response_a}{response_b} {"},
        "not a valid template",
    ),
    "empty constitution": ({"judge": ENDPOINT, "principles": []}, "params.principles"),
    "inconsistent unknown": (
        {"judge": ENDPOINT, "inconsistent": "coin"},
        "must be one of tie, drop, average",
    ),
    "timeout zero": ({"judge": ENDPOINT, "timeout_seconds": 0}, "params.timeout_seconds must be > 0"),
}


@pytest.mark.parametrize("case", list(BAD_JOBS), ids=list(BAD_JOBS))
def test_bad_ai_feedback_params_are_refused_and_store_nothing(
    case: str, make_dataset: Callable[..., dict[str, Any]], admin: httpx.Client, db: Session
) -> None:
    params, expected = BAD_JOBS[case]
    dataset = make_dataset(1)
    before = table_counts(db)
    response = admin.post(
        "/api/v1/jobs", json={"kind": "ai_feedback", "dataset_id": dataset["id"], "params": params}
    )
    assert response.status_code == 422, response.text
    assert expected in str(response.json()["detail"]), response.text
    assert table_counts(db) == before


def test_judge_version_must_be_a_policy(
    make_dataset: Callable[..., dict[str, Any]], admin: httpx.Client, db: Session
) -> None:
    from services.core.enums import ModelKind
    from tests.helpers.tiny_models import add_version

    reward = add_version(db, kind=ModelKind.REWARD, seed=3)
    dataset = make_dataset(1)
    before = table_counts(db)
    response = admin.post(
        "/api/v1/jobs",
        json={
            "kind": "ai_feedback",
            "dataset_id": dataset["id"],
            "params": {"judge": {"model_version_id": reward.id}},
        },
    )
    assert response.status_code == 422
    assert "is a reward model, not a policy model" in response.json()["detail"]
    assert table_counts(db) == before


@pytest.mark.parametrize("kind", ["reward_model", "dpo", "sft"])
def test_training_source_must_be_human_ai_or_all(
    kind: str, make_dataset: Callable[..., dict[str, Any]], admin: httpx.Client, db: Session
) -> None:
    dataset = make_dataset(1)
    before = table_counts(db)
    response = admin.post(
        "/api/v1/jobs", json={"kind": kind, "dataset_id": dataset["id"], "params": {"source": "robots"}}
    )
    assert response.status_code == 422
    assert "params.source must be one of human, ai, all" in response.json()["detail"]
    assert table_counts(db) == before


@pytest.mark.parametrize("path", ["export", "stats"])
def test_source_filter_must_be_human_ai_or_all(
    path: str, make_dataset: Callable[..., dict[str, Any]], admin: httpx.Client, db: Session
) -> None:
    dataset = make_dataset(1)
    before = table_counts(db)
    params = {"source": "robots"} | ({"format": "raw"} if path == "export" else {})
    response = admin.get(f"/api/v1/datasets/{dataset['id']}/{path}", params=params)
    assert response.status_code == 422
    assert "source" in str(response.json()["detail"])
    assert table_counts(db) == before


def test_ai_feedback_reads_preference_datasets_only(admin: httpx.Client, db: Session) -> None:
    from tests.helpers.collector import unique

    dataset = admin.post("/api/v1/datasets", json={"name": unique("prompts"), "kind": "prompt"}).json()
    before = table_counts(db)
    response = admin.post(
        "/api/v1/jobs",
        json={"kind": "ai_feedback", "dataset_id": dataset["id"], "params": {"judge": ENDPOINT}},
    )
    assert response.status_code == 422
    assert "ai_feedback reads preference datasets" in response.json()["detail"]
    assert table_counts(db) == before
