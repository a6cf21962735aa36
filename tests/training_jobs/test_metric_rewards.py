"""Metric rewards in online RL: the references of a dataset's prompts (prompt rows and comparisons) reach the
ROUGE and BLEU components of a named reward in ppo and rloo jobs; without them the job fails saying so."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from services.modeling.base_models import BUILTIN_TINY_GPT2
from services.modeling.combined_reward import RewardSpec
from services.modeling.reward_functions import rouge
from tests.helpers.jobs import submit, wait_for_job
from training_jobs import data
from training_jobs.reward_adapter import load_scorer

# Common words the built-in policy writes often: its samples overlap this reference, so ROUGE-1 is above 0.
REFERENCE = "the film is a story of the people and the world in which they live"


def import_rows(client: httpx.Client, kind: str, rows: list[dict[str, Any]], **params: str) -> dict[str, Any]:
    name = f"metric-{uuid.uuid4().hex[:8]}"
    dataset = client.post("/api/v1/datasets", json={"name": name, "kind": kind}).raise_for_status().json()
    body = "".join(json.dumps(row) + "\n" for row in rows)
    client.post(
        f"/api/v1/datasets/{dataset['id']}/import", params={"format": "trl", **params}, content=body.encode()
    ).raise_for_status()
    return dataset  # type: ignore[no-any-return]


def prompt_rows(n: int, *, references: bool = True) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{"prompt": f"Tell me about the film ({i}):"} for i in range(n)]
    return [{**row, "reference": f"{REFERENCE} ({i})"} for i, row in enumerate(rows)] if references else rows


def rouge_reward(admin: httpx.Client) -> str:
    name = f"rouge-{uuid.uuid4().hex[:8]}"
    components = [{"function": "rouge1", "weight": 1}]
    admin.post("/api/v1/rewards", json={"name": name, "components": components}).raise_for_status()
    return name


def test_prompt_rows_carry_their_references(admin: httpx.Client) -> None:
    prompts = import_rows(admin, "prompt", prompt_rows(3))
    pairs = [
        {"prompt": "Q1", "chosen": "a", "rejected": "b", "reference": "R1"},
        {"prompt": "Q2", "chosen": "c", "rejected": "d"},
    ]
    comparisons = import_rows(admin, "preference", pairs, with_preferences="true")

    assert data.dataset_prompt_rows(prompts["id"]) == [
        (f"Tell me about the film ({i}):", f"{REFERENCE} ({i})") for i in range(3)
    ]
    assert data.dataset_prompt_rows(comparisons["id"]) == [("Q1", "R1"), ("Q2", None)]


def test_combined_scorer_scores_each_response_against_its_prompts_reference() -> None:
    spec = RewardSpec.from_stored("r", 1, [{"function": "rouge1", "weight": 2.0}], None)
    scorer = load_scorer(spec, prompts=["p1", "p2"], references={"p1": "a cat sat", "p2": "dogs run fast"})

    scores = scorer(["p1", "p2"], ["a cat ran", "a cat ran"])

    assert scores == pytest.approx([2 * rouge("rouge1", "a cat ran", "a cat sat"), 0.0])
    with pytest.raises(Exception, match="1 of the job's 2 prompts have none"):
        load_scorer(spec, prompts=["p1", "p3"], references={"p1": "a cat sat"})


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("rloo", {"max_steps": 2, "max_completion_length": 16, "eval_samples_per_prompt": 2}),
        (
            "ppo",
            {
                "total_episodes": 16,
                "per_device_train_batch_size": 8,
                "response_length": 16,
                "eval_samples_per_prompt": 2,
            },
        ),
    ],
)
def test_online_rl_jobs_score_rouge_against_the_prompts_references(
    admin: httpx.Client, worker: Any, kind: str, params: dict[str, Any]
) -> None:
    dataset = import_rows(admin, "prompt", prompt_rows(24))
    job_params = {**params, "reward": rouge_reward(admin), "eval_fraction": 0.25}

    job = wait_for_job(
        admin,
        submit(admin, kind, dataset["id"], base_model=BUILTIN_TINY_GPT2, params=job_params),
        timeout=300,
    )

    assert job["status"] == "succeeded", job
    assert 0 < job["metrics"]["reward_before"] <= 1  # ROUGE-1 F-measures, not the 0 of a missing reference
    assert 0 <= job["metrics"]["reward_after"] <= 1


def test_online_rl_job_without_references_fails_saying_so(admin: httpx.Client, worker: Any) -> None:
    dataset = import_rows(admin, "prompt", prompt_rows(24, references=False))
    params = {"max_steps": 1, "max_completion_length": 8, "reward": rouge_reward(admin)}

    job = wait_for_job(
        admin, submit(admin, "rloo", dataset["id"], base_model=BUILTIN_TINY_GPT2, params=params)
    )

    assert job["status"] == "failed", job
    assert (
        "compares responses with references (ROUGE, BLEU): 24 of the job's 24 prompts have none"
        in job["error"]
    )
