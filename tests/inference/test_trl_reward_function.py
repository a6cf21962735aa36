"""PlatformReward (services/client/rewards.py): the inference service's /reward as a TRL reward function,
inside real GRPO and RLOO runs on a tiny GPT-2 against the real service with a promoted tiny reward model."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from datasets import Dataset
from rouge_score import rouge_scorer

from services.client import PlatformReward, RewardServiceError
from services.core.orm import ModelVersion
from tests.helpers.inference import wait_serving
from tests.helpers.tiny_models import build_tiny_gpt2

PROMPTS = ["The lake was", "Tell me about the mill.", "Which way is north?", "A short story:"]


@pytest.fixture
def reward_version(
    make_version: Callable[..., ModelVersion],
    promote: Callable[[int], None],
    inference: httpx.Client,
) -> ModelVersion:
    version = make_version("reward", seed=23)
    promote(version.id)
    wait_serving(inference, "reward", version.name)
    return version


def service_rewards(client: httpx.Client, pairs: list[tuple[str, str]]) -> list[float]:
    inputs = [{"prompt": prompt, "response": response} for prompt, response in pairs]
    response = client.post("/reward", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    return [float(reward) for reward in response.json()["rewards"]]


def test_grpo_run_logs_the_services_rewards(
    inference: httpx.Client, inference_url: str, reward_version: ModelVersion, tmp_path: Path
) -> None:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl import GRPOConfig, GRPOTrainer

    policy = build_tiny_gpt2(tmp_path / "policy", seed=1)
    args = GRPOConfig(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=8,  # 2 prompts x 4 completions a step
        num_generations=4,
        max_completion_length=8,
        max_steps=2,
        logging_steps=1,
        log_completions=True,  # writes each step's prompts, completions and rewards to completions/*.parquet
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        seed=0,
    )
    reward = PlatformReward(inference_url, batch_size=3)  # 3 does not divide 8: the last batch is short
    trainer = GRPOTrainer(
        model=str(policy),
        reward_funcs=[reward],
        args=args,
        train_dataset=Dataset.from_dict({"prompt": PROMPTS * 4}),
    )
    trainer.train()
    reward.close()

    assert reward.model == reward_version.name
    means = [entry["rewards/platform_reward/mean"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(means) == 2
    for step, logged_mean in enumerate(means, start=1):
        table = pq.read_table(
            tmp_path / "run" / "completions" / f"completions_{step:05d}.parquet"
        ).to_pydict()
        assert len(table["prompt"]) == 8 and len(set(table["prompt"])) == 2
        expected = service_rewards(inference, list(zip(table["prompt"], table["completion"], strict=True)))
        # The trainer holds rewards as float32: equal to the service's scores up to that rounding.
        assert table["platform_reward"] == pytest.approx(expected, rel=1e-5, abs=1e-5)
        assert logged_mean == pytest.approx(sum(expected) / len(expected), rel=1e-5, abs=1e-5)


class RecordingReward(PlatformReward):
    """PlatformReward that keeps what each call was given and answered (RLOOTrainer writes no completion
    tables, as GRPOTrainer does with log_completions)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[list[Any], list[Any], list[float | None]]] = []

    def __call__(
        self, prompts: Any, completions: Any, reference: Any = None, **kwargs: Any
    ) -> list[float | None]:
        scores = super().__call__(prompts, completions, reference, **kwargs)
        self.calls.append((list(prompts), list(completions), list(scores)))
        return scores


def test_rloo_run_logs_the_services_rewards(
    inference: httpx.Client, inference_url: str, reward_version: ModelVersion, tmp_path: Path
) -> None:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl import RLOOConfig, RLOOTrainer

    policy = build_tiny_gpt2(tmp_path / "policy", seed=2)
    args = RLOOConfig(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=8,  # 2 prompts x 4 completions a step
        num_generations=4,
        max_completion_length=8,
        max_steps=2,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        seed=0,
    )
    reward = RecordingReward(inference_url, batch_size=5)
    trainer = RLOOTrainer(
        model=str(policy),
        reward_funcs=[reward],
        args=args,
        train_dataset=Dataset.from_dict({"prompt": PROMPTS * 4}),
    )
    trainer.train()
    reward.close()

    assert reward.model == reward_version.name
    means = [entry["rewards/platform_reward/mean"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(means) == 2 and len(reward.calls) == 2  # one generation batch, one reward call a step
    for logged_mean, (prompts, completions, scores) in zip(means, reward.calls, strict=True):
        assert len(prompts) == 8 and len(set(prompts)) == 2
        expected = service_rewards(inference, list(zip(prompts, completions, strict=True)))
        assert scores == pytest.approx(expected, abs=1e-5)
        # The trainer holds rewards as float32: its logged mean equals the service's up to that rounding.
        assert logged_mean == pytest.approx(sum(expected) / len(expected), rel=1e-5, abs=1e-5)


def test_conversational_pairs_score_as_their_text(
    inference: httpx.Client, inference_url: str, reward_version: ModelVersion
) -> None:
    prompts: list[Any] = [
        [{"role": "user", "content": "Which way is the lake?"}],
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Name a river."}]},
        ],
    ]
    completions: list[Any] = [
        [{"role": "assistant", "content": "Turn left at the mill."}],
        [{"role": "assistant", "content": "The Thames."}],
    ]

    with PlatformReward(inference_url) as reward:
        scores = reward(prompts=prompts, completions=completions, completion_ids=[[1], [2]])

    expected = service_rewards(
        inference,
        [
            ("Which way is the lake?", "Turn left at the mill."),
            ("Be brief.\n\nName a river.", "The Thames."),
        ],
    )
    assert scores == pytest.approx(expected, abs=1e-6)


def test_named_reward_gets_the_reference_column(inference_url: str, admin: httpx.Client) -> None:
    name = f"rouge-{uuid.uuid4().hex[:8]}"
    admin.post(
        "/api/v1/rewards", json={"name": name, "components": [{"function": "rouge1", "weight": 1}]}
    ).raise_for_status()
    completions = ["The museum reopens.", "Floods may come."]
    reference = ["The museum reopens in May.", "A rainy week could bring coastal floods."]

    with PlatformReward(inference_url, reward=name) as reward:
        # As TRL calls it: the dataset's columns as keywords, `reference` among them.
        scores = reward(
            prompts=["Summarise.", "Summarise."], completions=completions, reference=reference, id=[1, 2]
        )

    assert reward.model == f"{name}@v1"
    scorer = rouge_scorer.RougeScorer(["rouge1"])
    expected = [scorer.score(r, c)["rouge1"].fmeasure for r, c in zip(reference, completions, strict=True)]
    assert scores == pytest.approx(expected, abs=1e-12) and expected[0] != expected[1]


def test_scores_are_the_same_whatever_the_batch_size(
    inference_url: str, reward_version: ModelVersion
) -> None:
    prompts = [f"Prompt {i}: " + "about the lake " * (i % 7) for i in range(20)]
    completions = [f"answer {i}" for i in range(20)]

    with (
        PlatformReward(inference_url, batch_size=256) as whole,
        PlatformReward(inference_url, batch_size=1) as one,
    ):
        assert one(prompts=prompts, completions=completions) == pytest.approx(
            whole(prompts=prompts, completions=completions), abs=1e-5
        )


def test_no_promoted_reward_model_is_retried_then_raised(
    inference: httpx.Client, inference_url: str, demote_all: Callable[[str], None]
) -> None:
    demote_all("reward")
    wait_serving(inference, "reward", None)

    with PlatformReward(inference_url, retries=2, backoff=0.01) as reward:
        with pytest.raises(RewardServiceError) as raised:
            reward(prompts=["p"], completions=["r"])

    assert raised.value.status_code == 503 and raised.value.retryable
    assert "no reward model is promoted" in str(raised.value)


def test_bad_input_is_not_retried(inference_url: str, reward_version: ModelVersion) -> None:
    with PlatformReward(inference_url, retries=50, backoff=10.0) as reward:  # a retry would take minutes
        with pytest.raises(RewardServiceError) as raised:
            reward(prompts=["x" * 100_001], completions=["r"])  # over RLHF_MAX_TEXT_BYTES: refused with 422

    assert raised.value.status_code == 422 and not raised.value.retryable


def test_unreachable_service_is_retried_then_raised() -> None:
    with PlatformReward("http://127.0.0.1:9", retries=1, backoff=0.01) as reward:
        with pytest.raises(RewardServiceError, match="did not reach the service") as raised:
            reward(prompts=["p"], completions=["r"])

    assert raised.value.status_code is None and raised.value.retryable
