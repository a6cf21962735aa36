"""sft, dpo and generate_comparisons jobs end to end: HTTP API → Celery worker → versions / comparisons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from sqlalchemy import select
from sqlalchemy.orm import Session
from transformers import AutoModelForCausalLM, AutoTokenizer

from services.core.artifacts import version_path
from services.core.orm import Comparison, ModelVersion
from tests.helpers.jobs import Worker, create_dataset, submit, wait_for_job

TINY_TRAINING = {"learning_rate": 5e-3, "per_device_train_batch_size": 8, "max_steps": 6, "max_length": 64}


def _weights(path: Path | str) -> torch.Tensor:
    model: Any = AutoModelForCausalLM.from_pretrained(path)
    return model.transformer.h[0].attn.c_attn.weight.detach()


def _run(client: httpx.Client, kind: str, dataset_id: int, **body: Any) -> dict[str, Any]:
    job = wait_for_job(client, submit(client, kind, dataset_id, **body))
    assert job["status"] == "succeeded", job
    return job


@pytest.fixture(scope="module")
def dataset(module_admin: httpx.Client) -> dict[str, Any]:
    return create_dataset(module_admin, 24)


@pytest.fixture(scope="module")
def sft_job(module_admin: httpx.Client, worker_process: Worker, dataset, tiny_gpt2) -> dict[str, Any]:
    worker_process.ensure_running()
    return _run(module_admin, "sft", dataset["id"], base_model=str(tiny_gpt2), params=TINY_TRAINING)


def test_sft_job_produces_a_policy_version_trained_on_the_chosen_responses(
    admin: httpx.Client, sft_job, tiny_gpt2
):
    assert sft_job["metrics"]["train_examples"] + sft_job["metrics"]["eval_examples"] == 24
    assert "eval_loss" in sft_job["metrics"] and sft_job["metrics"]["train_seconds"] > 0
    version = admin.get(f"/api/v1/models/{sft_job['model_version_id']}").raise_for_status().json()
    assert version["kind"] == "policy" and version["name"] == f"policy-{version['id']}"
    path = version_path(version["path"])
    assert not torch.equal(_weights(path), _weights(tiny_gpt2))
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    output = model.generate(
        **tokenizer(["Describe your day:"], return_tensors="pt"), max_new_tokens=4, do_sample=False
    )
    assert output.shape[1] > 0


def test_dpo_job_from_a_policy_version_produces_a_new_policy_version(
    admin: httpx.Client, worker, sft_job, dataset
):
    params = {**TINY_TRAINING, "policy_version_id": sft_job["model_version_id"], "beta": 0.1}
    job = _run(admin, "dpo", dataset["id"], params=params)

    assert job["model_version_id"] != sft_job["model_version_id"]
    assert {"eval_loss", "eval_reward_accuracy", "eval_reward_margin"} <= job["metrics"].keys()
    version = admin.get(f"/api/v1/models/{job['model_version_id']}").raise_for_status().json()
    sft_version = admin.get(f"/api/v1/models/{sft_job['model_version_id']}").raise_for_status().json()
    assert version["base_model"] == sft_version["name"]
    assert not torch.equal(
        _weights(version_path(version["path"])), _weights(version_path(sft_version["path"]))
    )


def test_dpo_job_with_lora_saves_a_merged_plain_model(admin: httpx.Client, worker, dataset, tiny_gpt2):
    params = {**TINY_TRAINING, "lora": {"r": 4, "alpha": 8}}
    job = _run(admin, "dpo", dataset["id"], base_model=str(tiny_gpt2), params=params)

    path = version_path(admin.get(f"/api/v1/models/{job['model_version_id']}").json()["path"])
    assert not (path / "adapter_config.json").exists()
    assert not torch.equal(_weights(path), _weights(tiny_gpt2))


def test_generate_comparisons_from_two_versions_records_their_sources(
    admin: httpx.Client, worker, sft_job, dataset, db: Session
):
    target = create_dataset(admin, 0)
    other = _run(
        admin,
        "sft",
        dataset["id"],
        params={**TINY_TRAINING, "policy_version_id": sft_job["model_version_id"]},
    )
    params = {
        "policy_version_id": other["model_version_id"],
        "other_policy_version_id": sft_job["model_version_id"],
        "target_dataset_id": target["id"],
        "num_prompts": 5,
        "max_new_tokens": 8,
    }
    job = _run(admin, "generate_comparisons", dataset["id"], params=params)

    assert job["model_version_id"] is None and job["metrics"]["comparisons"] == 5
    rows = db.scalars(select(Comparison).where(Comparison.dataset_id == target["id"])).all()
    assert len(rows) == 5
    assert {(c.source_a_version_id, c.source_b_version_id) for c in rows} == {
        (other["model_version_id"], sft_job["model_version_id"])
    }
    assert all(c.metadata_["job_id"] == job["id"] for c in rows)
    assert admin.get(f"/api/v1/datasets/{target['id']}").json()["comparisons"] == 5


def test_generate_comparisons_from_a_base_model_adds_pairs_to_its_own_dataset(
    admin: httpx.Client, worker, tiny_gpt2
):
    source = create_dataset(admin, 3)
    job = _run(
        admin,
        "generate_comparisons",
        source["id"],
        base_model=str(tiny_gpt2),
        params={"max_new_tokens": 6, "allow_self_comparison": True},
    )

    assert job["metrics"]["comparisons"] == 3 and job["metrics"]["policy_a"] == str(tiny_gpt2)
    assert admin.get(f"/api/v1/datasets/{source['id']}").json()["comparisons"] == 6


def test_generate_comparisons_refuses_the_promoted_policy_against_itself_unless_asked(
    admin: httpx.Client, sft_job, dataset, db: Session
):
    version_id = sft_job["model_version_id"]
    was_promoted = db.scalars(
        select(ModelVersion).where(ModelVersion.promoted, ModelVersion.kind == "policy")
    ).all()
    admin.post(f"/api/v1/models/{version_id}/promote").raise_for_status()
    try:
        body = {"kind": "generate_comparisons", "dataset_id": dataset["id"]}
        same = admin.post("/api/v1/jobs", json={**body, "params": {"other_policy_version_id": version_id}})
        asked = admin.post(
            "/api/v1/jobs",
            json={**body, "params": {"other_policy_version_id": version_id, "allow_self_comparison": True}},
        )
        if asked.status_code == 202:  # what it would sample is not this test's question
            admin.post(f"/api/v1/jobs/{asked.json()['id']}/cancel")
    finally:  # the promoted policy is every later job's default: leave it as it was
        db.expire_all()
        # Unpromote first: at most one promoted version per kind (a unique index), checked row by row.
        for version in db.scalars(select(ModelVersion).where(ModelVersion.kind == "policy")):
            version.promoted = False
        db.flush()
        for version in was_promoted:
            version.promoted = True
        db.commit()

    assert same.status_code == 422, same.text
    assert "params.other_policy_version_id is the promoted policy" in same.json()["detail"]
    assert asked.status_code == 202, asked.text
