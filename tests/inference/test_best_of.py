"""/generate with `best_of`: n sampled sequences, one returned, the others in details.best_of_sequences; chosen
by TGI's rule (mean log-probability) without a default reward, by the default reward when there is one."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.core.orm import ModelVersion
from tests.helpers.inference import wait_serving

PROMPT = "The morning was cold and"


def best_of(client: httpx.Client, n: int, **parameters: Any) -> dict[str, Any]:
    body = {
        "inputs": PROMPT,
        "parameters": {"best_of": n, "do_sample": True, "max_new_tokens": 8, "details": True, **parameters},
    }
    response = client.post("/generate", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def mean_logprob(details: dict[str, Any]) -> float:
    return statistics.fmean(token["logprob"] for token in details["tokens"])


def test_best_of_without_a_default_reward_returns_the_highest_mean_logprob(
    inference: httpx.Client, demote_all: Callable[[str], None], no_default_reward: None
) -> None:
    demote_all("reward")
    wait_serving(inference, "reward", None)

    details = best_of(inference, 4)["details"]

    others = details["best_of_sequences"]
    assert len(others) == 3
    assert details["best_of_criterion"] == {
        "name": "mean_logprob",
        "score": pytest.approx(mean_logprob(details)),
    }
    for other in others:
        assert set(other) >= {
            "generated_text",
            "finish_reason",
            "generated_tokens",
            "seed",
            "prefill",
            "tokens",
        }
        assert other["score"] == pytest.approx(mean_logprob(other))
        assert mean_logprob(details) >= mean_logprob(other)
    assert len({details["seed"], *(other["seed"] for other in others)}) == 4  # a seed per sequence


def test_best_of_with_a_default_reward_returns_the_sequence_it_scores_highest(
    inference: httpx.Client,
    make_version: Callable[..., ModelVersion],
    promote: Callable[[int], None],
    no_default_reward: None,
) -> None:
    reward = make_version("reward", seed=23)
    promote(reward.id)
    wait_serving(inference, "reward", reward.name)

    answer = best_of(inference, 4)

    details = answer["details"]
    texts = [answer["generated_text"], *(other["generated_text"] for other in details["best_of_sequences"])]
    inputs = [{"prompt": PROMPT, "response": text} for text in texts]
    scored = inference.post("/reward", json={"inputs": inputs}).raise_for_status().json()
    criterion = details["best_of_criterion"]
    assert criterion["name"] == "reward" and criterion["reward"] == reward.name == scored["model"]
    scores = [criterion["score"], *(other["score"] for other in details["best_of_sequences"])]
    assert scores == pytest.approx(scored["rewards"], abs=1e-5)
    assert scored["rewards"][0] == pytest.approx(max(scored["rewards"]), abs=1e-5)


def test_best_of_without_details_answers_the_text_alone(inference: httpx.Client) -> None:
    response = inference.post(
        "/generate",
        json={"inputs": PROMPT, "parameters": {"best_of": 2, "temperature": 0.8, "max_new_tokens": 4}},
    )

    assert response.status_code == 200, response.text
    assert set(response.json()) == {"generated_text"}


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        pytest.param({"best_of": 2}, "you must use sampling when `best_of` is > 1", id="greedy"),
        pytest.param(
            {"best_of": 5, "do_sample": True}, "`best_of` must be > 0 and <= 4. Given: 5", id="over-limit"
        ),
        pytest.param(
            {"best_of": 0, "do_sample": True}, "`best_of` must be > 0 and <= 4. Given: 0", id="zero"
        ),
        pytest.param(
            {"best_of": 2, "do_sample": True, "seed": 7},
            "`seed` must not be set when `best_of` > 1",
            id="seed",
        ),
    ],
)
def test_bad_best_of_answers_422(inference: httpx.Client, parameters: dict[str, Any], message: str) -> None:
    body = {"inputs": PROMPT, "parameters": {"max_new_tokens": 4, **parameters}}

    response = inference.post("/generate", json=body)

    assert response.status_code == 422
    assert response.json()["error_type"] == "validation"
    assert response.json()["error"] == f"Input validation error: {message}"
