"""POST /reward: raw scores of the promoted reward model, the same alone or batched; 503 without one; a request
that cannot be scored fails alone in its batch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.core.enums import ModelKind
from services.core.orm import ModelVersion
from services.inference.errors import ValidationError
from services.inference.loading import Target, load_reward
from services.inference.rewards import score_requests
from tests.helpers.inference import wait_serving
from tests.helpers.tiny_models import REWARD_WINDOW, build_tiny_reward

TOLERANCE = 1e-5


def pairs(n: int) -> list[dict[str, str]]:
    """Pairs of varied lengths: short ones, and long ones that the 64-token window truncates."""
    return [
        {
            "prompt": "Tell me about the lake. " * (i % 13),
            "response": f"Answer {i}: the water was still. " * (i % 5 + 1),
        }
        for i in range(n)
    ]


@pytest.fixture
def reward_version(
    make_version: Callable[..., ModelVersion],
    promote: Callable[[int], None],
    inference: httpx.Client,
) -> ModelVersion:
    version = make_version("reward", seed=11)
    promote(version.id)
    wait_serving(inference, "reward", version.name)
    return version


def post_reward(client: httpx.Client, inputs: list[dict[str, str]]) -> dict[str, Any]:
    response = client.post("/reward", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_reward_without_promoted_model_answers_503(
    inference: httpx.Client, demote_all: Callable[[str], None]
) -> None:
    demote_all("reward")
    wait_serving(inference, "reward", None)

    response = inference.post("/reward", json={"inputs": [{"prompt": "p", "response": "r"}]})

    assert response.status_code == 503
    error = response.json()
    assert error["error_type"] == "unavailable"
    assert "no reward model is promoted" in error["error"]
    assert error["detail"] == error["error"]


def test_reward_answers_scores_and_version(inference: httpx.Client, reward_version: ModelVersion) -> None:
    response = inference.post("/reward", json={"inputs": pairs(3)})

    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"rewards", "model"}
    assert answer["model"] == reward_version.name
    assert response.headers["x-model-version"] == reward_version.name
    assert len(answer["rewards"]) == 3 and all(isinstance(r, float) for r in answer["rewards"])
    assert len(set(answer["rewards"])) == 3


def test_reward_batch_of_256_equals_each_pair_alone(
    inference: httpx.Client, reward_version: ModelVersion
) -> None:
    inputs = pairs(256)

    batched = post_reward(inference, inputs)["rewards"]
    alone = [post_reward(inference, [pair])["rewards"][0] for pair in inputs]

    assert max(abs(a - b) for a, b in zip(batched, alone, strict=True)) <= TOLERANCE


def test_reward_concurrent_requests_share_batches_and_scores(
    inference: httpx.Client, inference_url: str, reward_version: ModelVersion
) -> None:
    inputs = pairs(48)
    alone = post_reward(inference, inputs)["rewards"]

    async def all_at_once() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=inference_url, timeout=60) as client:
            return await asyncio.gather(*(client.post("/reward", json={"inputs": [pair]}) for pair in inputs))

    responses = asyncio.run(all_at_once())

    assert all(r.status_code == 200 for r in responses)
    concurrent = [r.json()["rewards"][0] for r in responses]
    assert max(abs(a - b) for a, b in zip(concurrent, alone, strict=True)) <= TOLERANCE


def test_reward_truncates_prompt_from_the_left(inference: httpx.Client, reward_version: ModelVersion) -> None:
    tail = "so which way is the lake? " * REWARD_WINDOW  # alone longer than the window
    response = "turn left at the old mill"
    # The prompts differ only in their starts, which the window cuts off: the pairs score the same.
    first = "alpha beta gamma " * REWARD_WINDOW + tail
    second = "one two three four " + tail

    scores = post_reward(
        inference, [{"prompt": first, "response": response}, {"prompt": second, "response": response}]
    )

    assert abs(scores["rewards"][0] - scores["rewards"][1]) <= TOLERANCE
    short = post_reward(inference, [{"prompt": "so which way is the lake?", "response": response}])
    assert abs(short["rewards"][0] - scores["rewards"][0]) > TOLERANCE  # the window is real


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({"inputs": []}, "inputs: List should have at least 1 item", id="empty"),
        pytest.param(
            {"inputs": [{"prompt": "p", "response": "r"}] * 257}, "at most 256 items", id="257-pairs"
        ),
        pytest.param({"inputs": [{"prompt": "p"}]}, "inputs.0.response: Field required", id="no-response"),
        pytest.param({"inputs": "p"}, "inputs: Input should be a valid list", id="not-a-list"),
        pytest.param({}, "inputs: Field required", id="no-inputs"),
    ],
)
def test_invalid_reward_request_answers_422(
    inference: httpx.Client, reward_version: ModelVersion, body: dict[str, Any], message: str
) -> None:
    response = inference.post("/reward", json=body)

    assert response.status_code == 422
    error = response.json()
    assert error["error_type"] == "validation"
    assert message in error["error"]
    assert error["detail"] == error["error"]


def test_reward_answer_splits_its_time_in_server_timing(
    inference: httpx.Client, reward_version: ModelVersion
) -> None:
    response = inference.post("/reward", json={"inputs": pairs(2)})

    assert response.status_code == 200, response.text
    # W3C Server Timing: `name;dur=milliseconds`, comma-separated.
    parts = [part.strip().split(";") for part in response.headers["server-timing"].split(",")]
    timings = {name: float(duration.removeprefix("dur=")) for name, duration in parts}
    assert list(timings) == ["queue", "tokenize", "forward", "encode"]
    assert all(value >= 0 for value in timings.values())
    assert timings["forward"] > 0


def test_a_request_that_cannot_be_encoded_fails_alone_in_its_batch(tmp_path: Path) -> None:
    directory = build_tiny_reward(tmp_path / "reward", seed=3)
    reward = load_reward(Target(ModelKind.REWARD, "reward", None, "default", str(directory)))
    good = [[(pair["prompt"], pair["response"]) for pair in pairs(3)], [("Is it cold?", "Yes.")]]
    alone = score_requests(reward, good, batch_size=8, max_tokens=4096)

    # What /reward refuses at the door (services/core/inputs.py), handed to the batcher directly.
    first, refused, second = score_requests(
        reward, [good[0], [("The \ud800 lake", "x")], good[1]], batch_size=8, max_tokens=4096
    )

    assert isinstance(refused, ValidationError)
    assert first == pytest.approx(alone[0], abs=TOLERANCE)
    assert second == pytest.approx(alone[1], abs=TOLERANCE)
