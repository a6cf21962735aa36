"""Jobs on datasets of every kind: a job's dataset must be of a kind it reads (422 otherwise); sft trains on a
demonstration dataset, generate_comparisons samples for a prompt dataset's conversations into a preference
dataset, and the data functions hand jobs prompts as strings or message lists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.collector import unique
from tests.helpers.jobs import Worker, create_dataset, submit, wait_for_job
from training_jobs import data

USER = {"role": "user", "content": "Describe your day:"}


def kind_dataset(
    admin: httpx.Client, kind: str, rows: list[dict[str, Any]], fmt: str = "trl"
) -> dict[str, Any]:
    body = "".join(json.dumps(row) + "\n" for row in rows).encode()
    response = admin.post(
        "/api/v1/datasets/import", params={"name": unique(kind), "format": fmt, "kind": kind}, content=body
    )
    assert response.status_code == 201, response.text
    return admin.get(f"/api/v1/datasets/{response.json()['dataset_id']}").raise_for_status().json()


@pytest.fixture(scope="module")
def prompts(module_admin: httpx.Client) -> dict[str, Any]:
    rows: list[dict[str, Any]] = [{"prompt": f"Describe your day ({i}):"} for i in range(3)]
    rows += [{"prompt": [{"role": "system", "content": "Be kind."}, USER], "reference": "It was good."}]
    return kind_dataset(module_admin, "prompt", rows)


@pytest.fixture(scope="module")
def demonstrations(module_admin: httpx.Client) -> dict[str, Any]:
    rows = [{"prompt": f"Describe your day ({i}):", "completion": " It was lovely."} for i in range(12)]
    return kind_dataset(module_admin, "demonstration", rows)


@pytest.mark.parametrize(
    ("job_kind", "dataset_kind"),
    [
        ("sft", "labelled"),
        ("ppo", "demonstration"),
        ("rloo", "labelled"),
        ("dpo", "prompt"),
        ("reward_model", "demonstration"),
        ("generate_comparisons", "prompt"),  # its comparisons would land in the prompt dataset
    ],
)
def test_jobs_refuse_datasets_of_a_kind_they_do_not_read(
    admin: httpx.Client, job_kind: str, dataset_kind: str
) -> None:
    rows: dict[str, list[dict[str, Any]]] = {
        "labelled": [{"text": "t", "label": 1}],
        "demonstration": [{"prompt": "p", "completion": "c"}],
        "prompt": [{"prompt": "p"}],
    }
    fmt = "labelled" if dataset_kind == "labelled" else "trl"
    dataset = kind_dataset(admin, dataset_kind, rows[dataset_kind], fmt)
    response = admin.post("/api/v1/jobs", json={"kind": job_kind, "dataset_id": dataset["id"]})
    assert response.status_code == 422, response.text
    assert f"{dataset_kind} dataset" in response.json()["detail"]


def test_generate_comparisons_target_must_be_a_preference_dataset(admin: httpx.Client, prompts) -> None:
    other = kind_dataset(admin, "prompt", [{"prompt": "p"}])
    response = admin.post(
        "/api/v1/jobs",
        json={
            "kind": "generate_comparisons",
            "dataset_id": prompts["id"],
            "params": {"target_dataset_id": other["id"]},
        },
    )
    assert response.status_code == 422 and "params.target_dataset_id" in response.json()["detail"]


def test_data_functions_read_every_kind(admin: httpx.Client, prompts, demonstrations) -> None:
    read = data.dataset_prompts(prompts["id"])
    assert read[:3] == [f"Describe your day ({i}):" for i in range(3)]
    assert read[3] == [{"role": "system", "content": "Be kind."}, USER]
    assert data.prompt_text(read[3]) == "system: Be kind.\n\nuser: Describe your day:\n\nassistant:"
    demos = data.demonstrations(demonstrations["id"])
    assert demos.pairs[0] == {"prompt": "Describe your day (0):", "completion": " It was lovely."}
    assert demos.snapshot["max_example_id"] is not None
    labelled = kind_dataset(admin, "labelled", [{"text": "good", "label": True}], "labelled")
    assert data.labelled_rows(labelled["id"]).pairs == [{"text": "good", "label": True}]


def test_sft_trains_on_a_demonstration_dataset(
    admin: httpx.Client, worker: Worker, demonstrations, tiny_gpt2: Path
) -> None:
    params = {"learning_rate": 5e-3, "per_device_train_batch_size": 4, "max_steps": 2, "max_length": 64}
    job_id = submit(admin, "sft", demonstrations["id"], base_model=str(tiny_gpt2), params=params)
    job = wait_for_job(admin, job_id)
    assert job["status"] == "succeeded", job
    assert job["metrics"]["train_examples"] + job["metrics"]["eval_examples"] == 12


def test_generate_comparisons_keeps_a_prompt_datasets_conversations(
    admin: httpx.Client, worker: Worker, prompts, tiny_gpt2: Path
) -> None:
    target = create_dataset(admin, 0)
    params = {"target_dataset_id": target["id"], "max_new_tokens": 4}
    job_id = submit(admin, "generate_comparisons", prompts["id"], base_model=str(tiny_gpt2), params=params)
    job = wait_for_job(admin, job_id)
    assert job["status"] == "succeeded", job
    stored = data.dataset_prompts(target["id"])
    assert len(stored) == 4 and stored[3] == [{"role": "system", "content": "Be kind."}, USER]


def test_ppo_trains_on_a_prompt_dataset(admin: httpx.Client, worker: Worker, review_reward) -> None:
    rows: list[dict[str, Any]] = [{"prompt": f"My opinion of film {i}:"} for i in range(6)]
    rows += [{"prompt": [{"role": "user", "content": f"Review film {i}."}]} for i in range(6)]
    dataset = kind_dataset(admin, "prompt", rows)
    params = {
        "reward_model_version_id": review_reward["job"]["model_version_id"],
        "total_episodes": 8,
        "per_device_train_batch_size": 8,
        "response_length": 8,
        "eval_fraction": 0.25,
        "eval_samples_per_prompt": 1,
    }
    job = wait_for_job(
        admin, submit(admin, "ppo", dataset["id"], base_model="builtin:tiny-gpt2", params=params), timeout=600
    )
    assert job["status"] == "succeeded", job
    assert job["metrics"]["eval_prompts"] + job["metrics"]["train_prompts"] == 12
