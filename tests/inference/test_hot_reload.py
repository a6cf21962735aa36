"""Promotion while requests stream in: the new version loads in the background, no request fails, and
every answer names the version that computed it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.core.orm import ModelVersion
from tests.helpers.inference import assert_switched_cleanly, hammer, serving, wait_for, wait_serving

PAIR = {"prompt": "Is the lake cold in the morning?", "response": "Yes, and the water is very still."}


def test_reward_promotion_under_load_switches_without_failures(
    inference_url: str,
    inference: httpx.Client,
    make_version: Callable[..., ModelVersion],
    promote: Callable[[int], None],
) -> None:
    old = make_version("reward", seed=21)
    new = make_version("reward", seed=22)
    promote(old.id)
    wait_serving(inference, "reward", old.name)

    logs = asyncio.run(
        hammer(
            inference_url, "/reward", {"inputs": [PAIR]}, switch=lambda: promote(new.id), new_name=new.name
        )
    )

    assert_switched_cleanly(logs, old.name, new.name)
    scores: dict[str, set[float]] = {}
    for log in logs:
        for _, version, answer in log:
            assert answer["model"] == version
            scores.setdefault(version, set()).add(round(answer["rewards"][0], 5))
    # One score per version, and they differ: `model` names the version that really computed the score.
    assert len(scores[old.name]) == 1 and len(scores[new.name]) == 1
    assert scores[old.name] != scores[new.name]
    assert serving(inference, "reward") == new.name


@pytest.fixture
def default_policy(inference: httpx.Client, demote_all: Callable[[str], None]) -> str:
    """No promoted policy: the configured default serves. Returns its name."""
    demote_all("policy")
    wait_for(
        lambda: inference.get("/info").json()["policy"]["source"] == "default", what="the default policy"
    )
    return serving(inference, "policy")  # type: ignore[return-value]


def test_policy_promotion_under_load_switches_without_failures(
    inference_url: str,
    inference: httpx.Client,
    make_version: Callable[..., ModelVersion],
    promote: Callable[[int], None],
    default_policy: str,
) -> None:
    version = make_version("policy", seed=5)
    body = {"inputs": "The morning", "parameters": {"max_new_tokens": 4}}

    logs = asyncio.run(
        hammer(inference_url, "/generate", body, switch=lambda: promote(version.id), new_name=version.name)
    )

    assert_switched_cleanly(logs, default_policy, version.name)
    info = inference.get("/info").json()
    assert info["model_id"] == info["policy"]["name"] == version.name
    assert info["policy"]["source"] == "promoted" and info["policy"]["version_id"] == version.id


def test_unpromoting_the_policy_falls_back_to_the_default(
    inference: httpx.Client,
    make_version: Callable[..., ModelVersion],
    promote: Callable[[int], None],
    demote_all: Callable[[str], None],
    default_policy: str,
) -> None:
    version = make_version("policy", seed=6)
    promote(version.id)
    wait_serving(inference, "policy", version.name)

    demote_all("policy")

    wait_serving(inference, "policy", default_policy)
    assert inference.get("/info").json()["policy"]["source"] == "default"


def test_broken_promoted_version_keeps_the_previous_one_serving(
    inference: httpx.Client,
    make_version: Callable[..., ModelVersion],
    promote: Callable[[int], None],
    db: Any,
) -> None:
    working = make_version("reward", seed=31)
    promote(working.id)
    wait_serving(inference, "reward", working.name)
    broken = ModelVersion(
        name=f"{working.name}-broken", kind="reward", base_model="none", path="tests/missing"
    )
    db.add(broken)
    db.commit()

    promote(broken.id)

    def failure_reported() -> Any:
        return inference.get("/info").json()["load_errors"]["reward"]

    error = wait_for(failure_reported, what="the load error in /info")
    assert error["name"] == broken.name
    assert serving(inference, "reward") == working.name
    response = inference.post("/reward", json={"inputs": [PAIR]})
    assert response.status_code == 200 and response.json()["model"] == working.name
