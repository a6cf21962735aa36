"""classifier jobs end to end on movie-review polarity: a labelled dataset → a MiniLM sequence classifier with
one output per label → a reward version scoring the log-probability of `pos`, served by /reward as named
rewards' component exactly as transformers computes it (a weighted one scaled by its weight); bad params answer 422 and queue nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from services.core.artifacts import version_path
from services.core.orm import Job
from tests.helpers.jobs import Worker, submit, wait_for_job
from tests.helpers.sentiment import labelled_reviews
from tests.helpers.servers import start_inference

# A short run (LP-FT: one epoch of the head alone, then one of everything) on review endings of 32 words.
PARAMS = {
    "label": "pos",
    "transform": "logprob",
    "learning_rate": 1e-4,
    "num_train_epochs": 1,
    "max_length": 64,
    "eval_fraction": 0.2,
}


def labelled_dataset(client: httpx.Client, rows: list[dict[str, Any]]) -> dict[str, Any]:
    name = f"reviews-{uuid.uuid4().hex[:8]}"
    dataset = (
        client.post("/api/v1/datasets", json={"name": name, "kind": "labelled"}).raise_for_status().json()
    )
    body = "".join(json.dumps(row) + "\n" for row in rows)
    client.post(
        f"/api/v1/datasets/{dataset['id']}/import", params={"format": "labelled"}, content=body.encode()
    ).raise_for_status()
    return dataset  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def reviews(module_admin: httpx.Client) -> dict[str, Any]:
    return labelled_dataset(module_admin, labelled_reviews(80, words=32))


@pytest.fixture(scope="module")
def classifier_job(
    module_admin: httpx.Client, worker_process: Worker, reviews: dict[str, Any]
) -> dict[str, Any]:
    worker_process.ensure_running()
    job_id = submit(module_admin, "classifier", reviews["id"], params=PARAMS)
    return wait_for_job(module_admin, job_id, timeout=300)


def test_classifier_job_reports_held_out_accuracy(classifier_job: dict[str, Any]) -> None:
    assert classifier_job["status"] == "succeeded", classifier_job
    metrics = classifier_job["metrics"]
    assert metrics["labels"] == ["neg", "pos"]
    assert metrics["train_examples"] + metrics["eval_examples"] == 160
    low, high = metrics["eval_accuracy_ci95"]
    assert low <= metrics["eval_accuracy"] <= high
    assert metrics["eval_accuracy"] > metrics["eval_majority_accuracy"]  # it learnt something
    assert (
        sum(row["examples"] for row in metrics["eval_accuracy_by_label"].values()) == metrics["eval_examples"]
    )
    # fewer than 50 held-out rows: the interval is wide, and the job says so
    assert any("held-out examples" in warning for warning in metrics["warnings"]), metrics["warnings"]
    assert classifier_job["config"]["param_sources"]["learning_rate"] == "explicit"


def test_classifier_version_is_a_reward_model_of_its_label(
    admin: httpx.Client, classifier_job: dict[str, Any]
) -> None:
    version = admin.get(f"/api/v1/models/{classifier_job['model_version_id']}").raise_for_status().json()

    assert version["kind"] == "reward"
    assert version["params"]["scoring"] == {
        "label": "pos",
        "label_index": 1,
        "transform": "logprob",
        "input": "response",
    }
    config = json.loads((version_path(version["path"]) / "config.json").read_text())
    assert config["id2label"] == {"0": "neg", "1": "pos"} and config["label2id"] == {"neg": 0, "pos": 1}


@pytest.fixture(scope="module")
def inference(stack_env: dict[str, str], state_dir: Path, tiny_gpt2: Path) -> Iterator[httpx.Client]:
    env = {**stack_env, "RLHF_POLICY_MODEL": str(tiny_gpt2)}
    server, url = start_inference(env, state_dir / "inference-classifier.log")
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            yield client
    finally:
        server.stop()


def test_reward_serves_the_classifier_as_a_named_reward_component(
    admin: httpx.Client, inference: httpx.Client, classifier_job: dict[str, Any]
) -> None:
    version_id = classifier_job["model_version_id"]
    path = version_path(admin.get(f"/api/v1/models/{version_id}").raise_for_status().json()["path"])
    texts = [row["text"] for row in labelled_reviews(2, words=32, offset=900)]
    inputs = [{"prompt": "Review:", "response": text} for text in texts]
    names = {weight: f"positive-{weight}-{uuid.uuid4().hex[:8]}" for weight in (1, 2)}
    for weight, name in names.items():
        components = [{"model_version_id": version_id, "weight": weight}]
        admin.post("/api/v1/rewards", json={"name": name, "components": components}).raise_for_status()

    alone = inference.post("/reward", json={"inputs": inputs, "reward": names[1]})
    named = inference.post("/reward", json={"inputs": inputs, "reward": names[2]})

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.inference_mode():
        logprobs = [
            float(model(**tokenizer(t, return_tensors="pt")).logits[0].log_softmax(-1)[1]) for t in texts
        ]
    assert alone.status_code == 200, alone.text
    assert alone.json()["rewards"] == pytest.approx(logprobs, abs=1e-4)
    assert named.json()["rewards"] == pytest.approx([2 * value for value in logprobs], abs=2e-4)
    assert all(value <= 0 for value in alone.json()["rewards"])  # log-probabilities


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param(
            {"label": "happy"}, "params.label 'happy' is not a label of dataset", id="unknown-label"
        ),
        pytest.param({}, "params.label is missing", id="no-label"),
        pytest.param(
            {"label": "pos", "transform": "sigmoid"}, "params.transform must be one of", id="transform"
        ),
        pytest.param({"label": "pos", "max_length": 4}, "params.max_length must be >= 8", id="max-length"),
    ],
)
def test_bad_classifier_params_answer_422_and_queue_nothing(
    admin: httpx.Client, db: Session, reviews: dict[str, Any], params: dict[str, Any], message: str
) -> None:
    before = db.scalar(select(func.count()).select_from(Job))

    response = admin.post(
        "/api/v1/jobs", json={"kind": "classifier", "dataset_id": reviews["id"], "params": params}
    )

    assert response.status_code == 422, response.text
    assert message in response.text
    assert db.scalar(select(func.count()).select_from(Job)) == before


def test_classifier_needs_a_labelled_dataset_with_two_labels(admin: httpx.Client, make_dataset: Any) -> None:
    preferences = make_dataset(2)
    one_label = labelled_dataset(admin, [{"text": "fine", "label": "pos"}, {"text": "good", "label": "pos"}])

    wrong_kind = admin.post(
        "/api/v1/jobs",
        json={"kind": "classifier", "dataset_id": preferences["id"], "params": {"label": "pos"}},
    )
    single = admin.post(
        "/api/v1/jobs", json={"kind": "classifier", "dataset_id": one_label["id"], "params": {"label": "pos"}}
    )

    assert wrong_kind.status_code == 422 and "classifier reads labelled datasets" in wrong_kind.text
    assert single.status_code == 422 and "a classifier needs at least two" in single.text
