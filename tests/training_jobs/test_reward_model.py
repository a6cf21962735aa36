"""reward_model jobs end to end: HTTP API → Celery worker → artifact + model version."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from services.core.artifacts import version_path
from services.core.reward_inputs import encode_reward_input
from tests.training_jobs.conftest import submit, wait_for_job


def _rewards(path: Path, texts: list[tuple[str, str]]) -> list[float]:
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.inference_mode():
        return [
            float(model(torch.tensor([encode_reward_input(tokenizer, p, r, max_length=128)])).logits[0, 0])
            for p, r in texts
        ]


def test_reward_model_job_produces_loadable_reward_version(
    admin: httpx.Client, worker, make_dataset, tiny_gpt2
):
    dataset = make_dataset(48)
    params = {
        "num_train_epochs": 4,
        "learning_rate": 3e-3,
        "per_device_train_batch_size": 8,
        "eval_fraction": 0.25,
    }
    job_id = submit(admin, "reward_model", dataset["id"], base_model=str(tiny_gpt2), params=params)

    job = wait_for_job(admin, job_id)

    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0
    metrics = job["metrics"]
    assert metrics["train_pairs"] + metrics["eval_pairs"] == 48 and metrics["eval_pairs"] > 0
    assert metrics["eval_accuracy"] >= 0.75  # the pleasant response always wins: an easy signal
    assert metrics["train_seconds"] > 0 and "loss" in metrics and "eval_reward_margin_p50" in metrics
    assert (
        job["config"]["learning_rate"] == 3e-3 and job["config"]["lr_scheduler_type"] == "cosine_with_min_lr"
    )
    assert "training finished" in job["log_tail"]

    version = admin.get(f"/api/v1/models/{job['model_version_id']}").raise_for_status().json()
    assert version["name"] == f"reward-{version['id']}" and version["kind"] == "reward"
    assert version["base_model"] == str(tiny_gpt2) and version["job_id"] == job_id
    assert version["data_snapshot"]["dataset_id"] == dataset["id"]
    assert version["data_snapshot"]["max_preference_id"] is not None

    path = version_path(version["path"])
    for name in (
        "config.json",
        "tokenizer.json",
        "rlhf_version.json",
        "training_curves.png",
        "training_log.json",
    ):
        assert (path / name).is_file(), name
    assert json.loads((path / "rlhf_version.json").read_text())["name"] == version["name"]
    assert (path / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(path.glob("checkpoint-*"))

    trained = AutoModelForSequenceClassification.from_pretrained(path)
    base = AutoModelForSequenceClassification.from_pretrained(tiny_gpt2)
    assert not torch.equal(
        trained.transformer.h[0].attn.c_attn.weight, base.transformer.h[0].attn.c_attn.weight
    )
    good, bad = _rewards(
        path,
        [
            ("Describe your day:", " It was a warm sunny morning."),
            ("Describe your day:", " It was a sleepless night."),
        ],
    )
    assert good > bad
