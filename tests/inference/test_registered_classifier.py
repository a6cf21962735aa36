"""POST /api/v1/models registers a classifier folder as a reward version; a 2-label classifier scores the
log-probability (or logit, probability) of its named label through /reward; bad registrations write nothing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from services.core.orm import ModelVersion
from tests.helpers.tiny_models import build_tiny_reward

LABELS = ["NEGATIVE", "POSITIVE"]
INPUTS = [
    {"prompt": "Review the film.", "response": "A warm, funny and moving story; I loved every minute."},
    {"prompt": "Review the film.", "response": "Dull, slow and far too long."},
    {"prompt": "Something else entirely.", "response": "Dull, slow and far too long."},
]


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_reward(tmp_path_factory.mktemp("sentiment"), seed=5, labels=LABELS)


def expected(directory: Path, responses: list[str], transform: str) -> list[float]:
    """The classifier run directly with transformers on each response alone."""
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForSequenceClassification.from_pretrained(directory).eval()
    scores = []
    with torch.inference_mode():
        for response in responses:
            logits = model(**tokenizer(response, return_tensors="pt")).logits[0]
            values = {"logit": logits, "logprob": logits.log_softmax(-1), "prob": logits.softmax(-1)}[
                transform
            ]
            scores.append(float(values[LABELS.index("POSITIVE")]))
    return scores


def register(admin: httpx.Client, **body: Any) -> httpx.Response:
    return admin.post("/api/v1/models", json={"kind": "reward", **body})


@pytest.mark.parametrize(
    ("label", "transform"), [("POSITIVE", "logprob"), (1, "logit"), ("POSITIVE", "prob")]
)
def test_two_label_classifier_scores_its_label_through_reward(
    admin: httpx.Client, inference: httpx.Client, classifier_dir: Path, label: str | int, transform: str
) -> None:
    created = register(admin, source=str(classifier_dir), label=label, transform=transform, input="response")

    assert created.status_code == 201, created.text
    version = created.json()
    assert admin.get(f"/api/v1/models/{version['id']}").raise_for_status().json() == version
    assert version["kind"] == "reward" and version["name"] == f"reward-{version['id']}"
    assert version["params"]["scoring"] == {
        "label": "POSITIVE",
        "label_index": 1,
        "transform": transform,
        "input": "response",
    }
    name = f"sentiment-{uuid.uuid4().hex[:8]}"
    components = [{"model_version_id": version["id"], "weight": 1}]
    admin.post("/api/v1/rewards", json={"name": name, "components": components}).raise_for_status()

    answer = inference.post("/reward", json={"inputs": INPUTS, "reward": name})

    assert answer.status_code == 200, answer.text
    rewards = answer.json()["rewards"]
    assert rewards == pytest.approx(
        expected(classifier_dir, [i["response"] for i in INPUTS], transform), abs=1e-5
    )
    assert rewards[1] == pytest.approx(rewards[2], abs=1e-6)  # it reads the response alone
    assert rewards[0] != pytest.approx(rewards[1], abs=1e-4)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            {"label": "NEUTRAL"}, "label 'NEUTRAL' is not in this model's id2label", id="unknown-label"
        ),
        pytest.param({"label": 2}, "label 2 is not an index", id="index-out-of-range"),
        pytest.param({"source": "/nonexistent/model"}, "is not a folder on the server", id="no-folder"),
        pytest.param({"kind": "policy"}, "label: only for kind reward", id="policy"),
        pytest.param({"base_model": "gpt2"}, "base_model: only for kind policy", id="base-model"),
        pytest.param({"transform": "sigmoid"}, "transform", id="unknown-transform"),
    ],
)
def test_bad_registration_answers_422_and_writes_nothing(
    admin: httpx.Client, db: Session, classifier_dir: Path, body: dict[str, Any], message: str
) -> None:
    before = db.scalar(select(func.count()).select_from(ModelVersion))

    response = register(admin, **{"source": str(classifier_dir), "label": "POSITIVE", **body})

    assert response.status_code == 422, response.text
    assert message in response.text
    assert db.scalar(select(func.count()).select_from(ModelVersion)) == before


def test_one_label_model_scores_only_its_logit(admin: httpx.Client, tmp_path: Path) -> None:
    build_tiny_reward(tmp_path, seed=6)

    response = register(admin, source=str(tmp_path), label=0, transform="prob")

    assert response.status_code == 422
    assert "one-label model's score is its logit" in response.text
    assert register(admin, source=str(tmp_path), label="LABEL_0").status_code == 201
