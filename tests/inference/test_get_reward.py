"""POST /get_reward, OpenRLHF's remote reward protocol.

The requests are made as OpenRLHF's own client makes them: OpenRLHF/OpenRLHF at commit
9b8641c181296428ec764a8626ddccd750a780b0, openrlhf/utils/remote_rm_utils.py, `request_api_wrapper(url, data,
score_key="rewards")`: `requests.post(url=url, json=data, headers={"Content-Type": "application/json"},
timeout=180)`, `raise_for_status()`, then `assert score_key in response` and `response.get(score_key)`, with
`data = {"query": queries, "prompts": prompts, "labels": labels}` (`remote_rm_fn`). Its reward server
(openrlhf/cli/serve_rm.py) answers `{"rewards", "scores", "extra_logs"}`, which newer clients read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests
from rouge_score import rouge_scorer

from services.core.orm import ModelVersion
from tests.helpers.inference import wait_serving

PAIRS = [
    ("Question: which way is the lake?\nAnswer:", " Turn left at the old mill and walk on."),
    ("Question: what is two plus two?\nAnswer:", " Four."),
    ("Summarise: the council approved the new bridge on Monday.\nSummary:", " A bridge was approved."),
]
REFERENCES = ["Go left at the mill.", "Two plus two is four.", "The council approved a bridge on Monday."]


def request_api_wrapper(url: str, data: dict[str, Any], score_key: str = "rewards") -> Any:
    """OpenRLHF's client call (see the module docstring), without its retries."""
    response = requests.post(url=url, json=data, headers={"Content-Type": "application/json"}, timeout=180)
    response.raise_for_status()
    answer = response.json()
    assert score_key in answer, f"{score_key} not in {answer}"
    return answer.get(score_key)


@pytest.fixture
def promoted(
    make_version: Callable[..., ModelVersion], promote: Callable[[int], None], inference: httpx.Client
) -> ModelVersion:
    version = make_version("reward", seed=51)
    promote(version.id)
    wait_serving(inference, "reward", version.name)
    return version


def reward(inference: httpx.Client, pairs: list[tuple[str, str]], **extra: Any) -> list[float]:
    inputs = [{"prompt": prompt, "response": response} for prompt, response in pairs]
    answer = inference.post("/reward", json={"inputs": inputs, **extra})
    assert answer.status_code == 200, answer.text
    return answer.json()["rewards"]  # type: ignore[no-any-return]


def test_scores_equal_reward_for_the_same_pairs(
    inference: httpx.Client, inference_url: str, promoted: ModelVersion
) -> None:
    data = {"query": [p + r for p, r in PAIRS], "prompts": [p for p, _ in PAIRS], "labels": REFERENCES}

    rewards = request_api_wrapper(f"{inference_url}/get_reward", data)
    answer = httpx.post(f"{inference_url}/get_reward", json=data).json()

    assert rewards == pytest.approx(reward(inference, PAIRS), abs=1e-5)
    assert answer["scores"] == answer["rewards"] == rewards
    assert answer["extra_logs"] == {"prompt_split": [0, 0, 0]}
    assert answer["model"] == promoted.name


def test_prompt_cut_from_the_left_is_scored_with_the_whole_prompt(
    inference: httpx.Client, inference_url: str, promoted: ModelVersion
) -> None:
    prompt, response = PAIRS[0]
    other_prompt, other_response = PAIRS[1]
    data = {
        "query": [prompt[9:] + response, "<s>" + other_prompt + other_response],
        "prompts": [prompt, other_prompt],
    }

    answer = httpx.post(f"{inference_url}/get_reward", json=data)

    assert answer.status_code == 200, answer.text
    assert answer.json()["extra_logs"] == {"prompt_split": [1, 2]}
    expected = reward(inference, [(prompt, response), ("", "<s>" + other_prompt + other_response)])
    assert answer.json()["rewards"] == pytest.approx(expected, abs=1e-5)


def test_labels_are_the_references_of_a_named_reward(admin: httpx.Client, inference_url: str) -> None:
    name = f"rouge-{uuid.uuid4().hex[:8]}"
    admin.post(
        "/api/v1/rewards", json={"name": name, "components": [{"function": "rougeL"}]}
    ).raise_for_status()
    data = {"query": [p + r for p, r in PAIRS], "prompts": [p for p, _ in PAIRS], "labels": REFERENCES}

    rewards = request_api_wrapper(f"{inference_url}/get_reward?reward={name}", data)

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    expected = [
        scorer.score(ref, r)["rougeL"].fmeasure for (_, r), ref in zip(PAIRS, REFERENCES, strict=True)
    ]
    assert rewards == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"query": ["a", "b"], "prompts": ["a"]}, "prompts has 1 items; query has 2"),
        ({"query": ["a"], "prompts": ["a"], "labels": ["x", "y"]}, "labels has 2 items; query has 1"),
        ({"prompts": ["a"]}, "query: Field required"),
    ],
)
def test_mismatched_lengths_answer_422(
    inference_url: str, promoted: ModelVersion, data: dict[str, Any], message: str
) -> None:
    answer = httpx.post(f"{inference_url}/get_reward", json=data)

    assert answer.status_code == 422
    assert message in answer.json()["error"]


def test_unknown_reward_answers_404(inference_url: str) -> None:
    answer = httpx.post(f"{inference_url}/get_reward?reward=nope", json={"query": ["ab"], "prompts": ["a"]})

    assert answer.status_code == 404
