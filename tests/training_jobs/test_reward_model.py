"""reward_model jobs end to end: HTTP API → Celery worker → artifact + model version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from services.core.artifacts import version_path
from services.modeling.reward_inputs import encode_reward_input
from tests.helpers.jobs import submit, wait_for_job


def _rewards(path: Path, texts: list[tuple[str, str]]) -> list[float]:
    tokenizer: Any = AutoTokenizer.from_pretrained(path)  # fast; typed as a union with slow ones
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
    for url in (f"/api/v1/jobs/{job_id}/curves.png", f"/api/v1/models/{version['id']}/curves.png"):
        served = admin.get(url)
        assert served.status_code == 200 and served.headers["content-type"] == "image/png", url
        assert served.content == (path / "training_curves.png").read_bytes()
    logged = json.loads((path / "training_log.json").read_text())
    assert any("probe_loss" in entry for entry in logged) and any("loss" in entry for entry in logged)
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


def _c_attn(path: Path, layer: int) -> torch.Tensor:
    return AutoModelForSequenceClassification.from_pretrained(path).transformer.h[layer].attn.c_attn.weight


def test_reward_model_job_with_frozen_layers_trains_only_the_named_ones(
    admin: httpx.Client, worker, make_dataset, tiny_gpt2
):
    dataset = make_dataset(16)
    params = {
        "max_steps": 3,
        "learning_rate": 1e-2,
        "per_device_train_batch_size": 4,
        "trainable": ["transformer.h.1"],
    }
    job = wait_for_job(
        admin, submit(admin, "reward_model", dataset["id"], base_model=str(tiny_gpt2), params=params)
    )

    assert job["status"] == "succeeded", job
    path = version_path(admin.get(f"/api/v1/models/{job['model_version_id']}").json()["path"])
    assert torch.equal(_c_attn(path, 0), _c_attn(tiny_gpt2, 0))
    assert not torch.equal(_c_attn(path, 1), _c_attn(tiny_gpt2, 1))


def test_reward_model_job_with_lora_saves_a_plain_model_with_a_trained_head(
    admin: httpx.Client, worker, make_dataset, tiny_gpt2
):
    dataset = make_dataset(16)
    params = {"max_steps": 3, "learning_rate": 1e-2, "per_device_train_batch_size": 4, "lora": {"r": 4}}
    job = wait_for_job(
        admin, submit(admin, "reward_model", dataset["id"], base_model=str(tiny_gpt2), params=params)
    )

    assert job["status"] == "succeeded", job
    path = version_path(admin.get(f"/api/v1/models/{job['model_version_id']}").json()["path"])
    assert not (path / "adapter_config.json").exists()
    trained = AutoModelForSequenceClassification.from_pretrained(path)
    assert not torch.equal(_c_attn(path, 0), _c_attn(tiny_gpt2, 0))  # the LoRA delta, merged in
    assert trained.score.weight.abs().sum() > 0


def test_reward_model_job_without_the_probe_phase_trains_in_one_go(
    admin: httpx.Client, worker, make_dataset, tiny_gpt2
):
    dataset = make_dataset(16)
    params = {"max_steps": 2, "per_device_train_batch_size": 4, "probe_epochs": 0}
    job = wait_for_job(
        admin, submit(admin, "reward_model", dataset["id"], base_model=str(tiny_gpt2), params=params)
    )

    assert job["status"] == "succeeded", job
    assert "reward head alone" not in job["log_tail"]
    path = version_path(admin.get(f"/api/v1/models/{job['model_version_id']}").json()["path"])
    logged = json.loads((path / "training_log.json").read_text())
    assert logged and not any(key.startswith("probe_") for entry in logged for key in entry)


def test_reward_model_job_on_minilm_uses_its_bert_tokenizer(admin: httpx.Client, worker, make_dataset):
    dataset = make_dataset(12)
    params = {"max_steps": 2, "per_device_train_batch_size": 4}
    job = wait_for_job(admin, submit(admin, "reward_model", dataset["id"], params=params))  # the default base

    assert job["status"] == "succeeded", job
    version = admin.get(f"/api/v1/models/{job['model_version_id']}").json()
    assert version["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    path = version_path(version["path"])
    tokenizer: Any = AutoTokenizer.from_pretrained(path)  # fast; typed as a union with slow ones
    ids = encode_reward_input(tokenizer, "Describe your day:", " It was fine.", max_length=64)
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert AutoModelForSequenceClassification.from_pretrained(path).config.num_labels == 1
