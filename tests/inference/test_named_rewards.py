"""POST /reward with a named reward: a combination scores the weighted sum of its components scored alone, ROUGE
is rouge-score's own F-measure, `default` is the latest of a promotion and a reward named default."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from rouge_score import rouge_scorer

from services.core.orm import ModelVersion
from tests.helpers.inference import wait_serving

TOLERANCE = 1e-5

INPUTS = [
    {
        "prompt": "Summarise: the council met on Monday and approved the new bridge over the river.",
        "response": "The council approved a new bridge on Monday.",
        "reference": "On Monday the council approved the new river bridge.",
    },
    {
        "prompt": "Summarise: rain is expected all week, with floods possible near the coast.",
        "response": "Floods may hit the coast after a week of rain.",
        "reference": "A rainy week could bring coastal floods.",
    },
    {
        "prompt": "Summarise: the museum reopens in May after two years of repairs to its roof.",
        "response": "It reopens.",
        "reference": "The museum reopens in May once its roof is repaired.",
    },
]


def create(admin: httpx.Client, components: list[dict[str, Any]], name: str | None = None) -> str:
    name = name or f"r-{uuid.uuid4().hex[:8]}"
    admin.post("/api/v1/rewards", json={"name": name, "components": components}).raise_for_status()
    return name


def score(client: httpx.Client, inputs: list[dict[str, Any]], reward: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"inputs": inputs}
    if reward is not None:
        body["reward"] = reward
    response = client.post("/reward", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def two_models(make_version: Callable[..., ModelVersion]) -> tuple[ModelVersion, ModelVersion]:
    return make_version("reward", seed=41), make_version("reward", seed=42)


def test_combination_is_the_weighted_sum_of_its_components_alone(
    inference: httpx.Client, admin: httpx.Client, two_models: tuple[ModelVersion, ModelVersion]
) -> None:
    first, second = two_models
    components: list[dict[str, Any]] = [
        {"model_version_id": first.id, "weight": 0.5, "whiten": {"mean": 0.2, "std": 1.5}},
        {"model_version_id": second.id, "weight": -2.0},
        {"function": "rouge1", "weight": 1.5},
        {"function": "bleu", "weight": 0.75},
        {"function": "length", "target": 6, "weight": 0.25},
        {"function": "regex", "pattern": r"\bMonday\b", "weight": 3},
    ]
    combined = create(admin, components)
    alone = [score(inference, INPUTS, create(admin, [{**c, "weight": 1.0}]))["rewards"] for c in components]

    answer = score(inference, INPUTS, combined)

    assert answer["model"] == f"{combined}@v1"
    for i, reward in enumerate(answer["rewards"]):
        expected = sum(c["weight"] * alone[k][i] for k, c in enumerate(components))
        assert reward == pytest.approx(expected, abs=TOLERANCE)
    assert len(set(alone[0])) == 3 and len(set(alone[2])) == 3  # the components really differ per input
    # The whitening statistics are the reward's, not the batch's: each input alone scores the same.
    for i, item in enumerate(INPUTS):
        assert score(inference, [item], combined)["rewards"][0] == pytest.approx(
            answer["rewards"][i], abs=TOLERANCE
        )


@pytest.mark.parametrize("kind", ["rouge1", "rouge2", "rougeL"])
def test_rouge_through_reward_is_rouge_scores_f_measure(
    inference: httpx.Client, admin: httpx.Client, kind: str
) -> None:
    reward = create(admin, [{"function": kind, "weight": 1}])

    rewards = score(inference, INPUTS, reward)["rewards"]

    scorer = rouge_scorer.RougeScorer([kind])
    expected = [scorer.score(i["reference"], i["response"])[kind].fmeasure for i in INPUTS]
    assert rewards == pytest.approx(expected, abs=1e-12)


def test_unknown_reward_answers_404(inference: httpx.Client) -> None:
    response = inference.post("/reward", json={"inputs": INPUTS, "reward": "never-created"})

    assert response.status_code == 404
    assert response.json()["error_type"] == "not_found"
    assert "no reward named 'never-created'" in response.json()["error"]


def test_reference_reward_without_reference_answers_422(inference: httpx.Client, admin: httpx.Client) -> None:
    reward = create(admin, [{"function": "length", "target": 3}, {"function": "bleu"}])
    inputs = [INPUTS[0], {"prompt": "p", "response": "r"}]

    response = inference.post("/reward", json={"inputs": inputs, "reward": reward})

    assert response.status_code == 422
    assert "inputs[1] has no reference" in response.json()["error"]
    assert "(bleu)" in response.json()["error"]


def test_default_is_the_latest_of_a_promotion_and_a_reward_named_default(
    inference: httpx.Client,
    admin: httpx.Client,
    make_version: Callable[..., ModelVersion],
    promote: Callable[[int], None],
    no_default_reward: None,
) -> None:
    old, new = make_version("reward", seed=43), make_version("reward", seed=44)
    promote(old.id)
    wait_serving(inference, "reward", old.name)
    assert score(inference, INPUTS)["model"] == old.name

    create(admin, [{"function": "rouge1", "weight": 2}], name="default")
    named = score(inference, INPUTS)
    listed = admin.get("/api/v1/rewards").raise_for_status().json()

    assert named["model"] == listed["default"] and named["model"].startswith("default@v")
    assert named == score(inference, INPUTS, "default")
    scorer = rouge_scorer.RougeScorer(["rouge1"])
    assert named["rewards"] == pytest.approx(
        [2 * scorer.score(i["reference"], i["response"])["rouge1"].fmeasure for i in INPUTS]
    )

    promote(new.id)  # today's route: the promoted version is the default again
    wait_serving(inference, "reward", new.name)
    assert score(inference, INPUTS)["model"] == new.name
    assert admin.get("/api/v1/rewards").raise_for_status().json()["default"] == new.name


def test_safety_gate_through_reward(inference: httpx.Client, admin: httpx.Client) -> None:
    # "safety": a length penalty toward 8 words; "helpfulness": ROUGE-1. Below −0.2 the safety score rules.
    safety = {"function": "length", "target": 8, "weight": 1.0}
    helpfulness = {"function": "rouge1", "weight": 1.0}
    name = f"gated-{uuid.uuid4().hex[:8]}"
    body = {
        "name": name,
        "components": [safety, helpfulness],
        "safety_gate": {"safety": 0, "helpfulness": 1, "threshold": -0.2},
    }
    admin.post("/api/v1/rewards", json=body).raise_for_status()
    inputs: list[dict[str, Any]] = [*INPUTS, {**INPUTS[0], "safety_relevant": True}]

    rewards = score(inference, inputs, name)["rewards"]

    lengths = score(inference, inputs, create(admin, [safety]))["rewards"]
    rouges = score(inference, inputs, create(admin, [helpfulness]))["rewards"]
    assert lengths[0] >= -0.2 and lengths[2] < -0.2  # both sides of the gate are exercised
    expected = [
        length if length < -0.2 or item.get("safety_relevant") else rouge
        for length, rouge, item in zip(lengths, rouges, inputs, strict=True)
    ]
    assert rewards == pytest.approx(expected, abs=1e-9)
    assert rewards[3] == pytest.approx(lengths[0]) and rewards[0] == pytest.approx(rouges[0])
