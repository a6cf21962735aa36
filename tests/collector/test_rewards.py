"""Named rewards: POST /api/v1/rewards creates versions, GET lists them; bad components answer 4xx and write
nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.core.orm import ModelVersion, Reward


@pytest.fixture
def version_row(db: Session) -> Callable[[str], int]:
    """A model_version row of a kind (the collector never loads it)."""

    def make(kind: str) -> int:
        name = f"test-{kind}-{uuid.uuid4().hex[:8]}"
        version = ModelVersion(name=name, kind=kind, base_model="none", path=f"tests/{name}")
        db.add(version)
        db.commit()
        return version.id

    return make


def name() -> str:
    return f"r-{uuid.uuid4().hex[:8]}"


def test_creating_a_name_again_makes_a_new_version(
    admin: httpx.Client, version_row: Callable[[str], int]
) -> None:
    reward, model = name(), version_row("reward")
    first = {
        "name": reward,
        "components": [
            {"model_version_id": model, "weight": 0.5, "whiten": {"mean": 1.5, "std": 2.0}},
            {"function": "rougeL", "weight": 1},
        ],
    }
    second = {
        "name": reward,
        "components": [{"function": "length", "target": 40, "unit": "chars", "weight": -1}],
        "safety_gate": None,
    }

    created = admin.post("/api/v1/rewards", json=first)
    again = admin.post("/api/v1/rewards", json=second)

    assert created.status_code == 201, created.text
    assert again.status_code == 201, again.text
    assert created.json()["version"] == 1 and again.json()["version"] == 2
    assert created.json()["components"] == [
        {"model_version_id": model, "weight": 0.5, "whiten": {"mean": 1.5, "std": 2.0}},
        {"function": "rougeL", "weight": 1.0},
    ]
    assert again.json()["components"] == [
        {"function": "length", "weight": -1.0, "target": 40, "unit": "chars"}
    ]
    listed = admin.get("/api/v1/rewards", params={"name": reward}).raise_for_status().json()
    assert [row["version"] for row in listed["data"]] == [2, 1] and listed["count"] == 2
    everything = admin.get("/api/v1/rewards").raise_for_status().json()
    assert {row["id"] for row in listed["data"]} <= {row["id"] for row in everything["data"]}


def test_safety_gate_is_stored_with_the_reward(
    admin: httpx.Client, version_row: Callable[[str], int]
) -> None:
    safety, helpful = version_row("reward"), version_row("reward")
    body = {
        "name": name(),
        "components": [{"model_version_id": safety, "weight": 1}, {"model_version_id": helpful, "weight": 1}],
        "safety_gate": {"safety": 0, "helpfulness": 1, "threshold": 0.15},
    }

    created = admin.post("/api/v1/rewards", json=body)

    assert created.status_code == 201, created.text
    assert created.json()["safety_gate"] == {"safety": 0, "helpfulness": 1, "threshold": 0.15}


BAD_COMPONENTS: list[Any] = [
    pytest.param([{"function": "rouge3", "weight": 1}], "function", id="unknown-function"),
    pytest.param([{"function": "rouge1", "weight": "NaN"}], "weight", id="nan-weight-string"),
    pytest.param([{"function": "rouge1", "weight": float("nan")}], "weight", id="nan-weight"),
    pytest.param([{"function": "rouge1", "weight": float("inf")}], "weight", id="inf-weight"),
    pytest.param([{"function": "length", "weight": 1}], "needs 'target'", id="length-without-target"),
    pytest.param([{"function": "length", "target": 0}], "target must be at least 1", id="length-target-0"),
    pytest.param([{"function": "regex", "pattern": "("}], "does not compile", id="bad-regex"),
    pytest.param([{"function": "bleu", "target": 3}], "unknown keys", id="option-of-another-function"),
    pytest.param([{"weight": 1}], "either model_version_id or function", id="neither"),
    pytest.param([{"function": "rouge1", "whiten": {"mean": 0, "std": 0}}], "std", id="zero-std"),
    pytest.param([], "at least 1", id="no-components"),
]


@pytest.mark.parametrize(("components", "message"), BAD_COMPONENTS)
def test_bad_components_answer_422_and_write_nothing(
    admin: httpx.Client, db: Session, components: list[Any], message: str
) -> None:
    reward = name()
    # Written with Python's json, which puts NaN and Infinity on the wire as a careless client would.
    response = admin.post(
        "/api/v1/rewards",
        content=json.dumps({"name": reward, "components": components}),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert message in response.text
    assert db.scalar(select(func.count()).select_from(Reward).where(Reward.name == reward)) == 0


@pytest.mark.parametrize("kind", ["policy", "missing"])
def test_component_must_be_an_existing_reward_version(
    admin: httpx.Client, db: Session, version_row: Callable[[str], int], kind: str
) -> None:
    reward = name()
    version_id = version_row("policy") if kind == "policy" else 2**62
    components = [{"function": "rouge1", "weight": 1}, {"model_version_id": version_id, "weight": 1}]

    response = admin.post("/api/v1/rewards", json={"name": reward, "components": components})

    assert response.status_code == 422, response.text
    expected = "is a policy model, not a reward model" if kind == "policy" else "does not exist"
    assert response.json()["detail"].startswith("components[1]: model version ")
    assert expected in response.json()["detail"]
    assert db.scalar(select(func.count()).select_from(Reward).where(Reward.name == reward)) == 0


def test_gate_must_point_at_two_components(admin: httpx.Client) -> None:
    body = {
        "name": name(),
        "components": [{"function": "rouge1"}, {"function": "bleu"}],
        "safety_gate": {"safety": 0, "helpfulness": 2, "threshold": 0},
    }

    response = admin.post("/api/v1/rewards", json=body)

    assert response.status_code == 422
    assert "indices into components" in response.text


def test_rewards_need_the_admin(collector_url: str) -> None:
    response = httpx.post(f"{collector_url}/api/v1/rewards", json={"name": "x", "components": []})

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"reward": "never-created"}, "params.reward: no reward named 'never-created'"),
        ({"reward": "x", "reward_model_version_id": 1}, "are alternatives"),
        ({"reward": 3}, "params.reward must be"),
    ],
)
def test_online_rl_jobs_refuse_a_bad_reward(
    admin: httpx.Client, make_dataset: Callable[..., dict[str, Any]], params: dict[str, Any], message: str
) -> None:
    dataset = make_dataset(2)
    for kind in ("ppo", "rloo"):
        response = admin.post(
            "/api/v1/jobs", json={"kind": kind, "dataset_id": dataset["id"], "params": params}
        )

        assert response.status_code == 422, response.text
        assert message in response.text
