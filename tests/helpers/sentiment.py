"""A film-review preference the tiny built-in policy can learn in seconds, and a MiniLM reward model for it.

The built-in policy was pretrained on prose that includes film reviews, so it already writes both praise and
complaint; a reward model that prefers praise gives PPO a signal it can follow in a few steps. MiniLM has a
WordPiece tokenizer, the policy a byte-level BPE one: the PPO and RLOO jobs must bridge the two.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.helpers.jobs import submit, wait_for_job

POSITIVE = [
    "It was wonderful.",
    "A beautiful, moving story.",
    "The acting is excellent.",
    "I loved every minute of it.",
    "A delightful film with real heart.",
    "The music is lovely and the cast is great.",
    "Brilliant and funny.",
    "A joy to watch.",
]
NEGATIVE = [
    "It was terrible.",
    "A boring, empty story.",
    "The acting is awful.",
    "I hated every minute of it.",
    "A dull film with no heart.",
    "The music is annoying and the cast is bad.",
    "Stupid and tedious.",
    "A waste of time.",
]
OPENERS = ["The film", "This movie", "The story", "The acting", "The ending", "The music"]


def review_rows(n: int) -> list[dict[str, str]]:
    """n comparisons, each with its own prompt; the positive review always wins."""
    return [
        {
            "prompt": f"{OPENERS[i % len(OPENERS)]} ({i}):",
            "chosen": " " + POSITIVE[i % len(POSITIVE)],
            "rejected": " " + NEGATIVE[(i * 3 + 1) % len(NEGATIVE)],
        }
        for i in range(n)
    ]


def create_review_dataset(client: httpx.Client, n: int) -> dict[str, Any]:
    dataset = client.post(
        "/api/v1/datasets", json={"name": f"reviews-{uuid.uuid4().hex[:8]}"}
    ).raise_for_status()
    dataset_id = dataset.json()["id"]
    body = "".join(json.dumps(row) + "\n" for row in review_rows(n))
    client.post(
        f"/api/v1/datasets/{dataset_id}/import",
        params={"format": "trl", "with_preferences": "true"},
        content=body.encode(),
    ).raise_for_status()
    return dataset.json()


def train_minilm_reward_model(client: httpx.Client, dataset_id: int) -> dict[str, Any]:
    """A reward_model job on MiniLM through the API (about 12 steps); returns the finished job."""
    params = {
        "learning_rate": 1e-4,
        "num_train_epochs": 4,
        "per_device_train_batch_size": 16,
        "eval_fraction": 0.1,
    }
    job = wait_for_job(
        client,
        submit(
            client,
            "reward_model",
            dataset_id,
            base_model="sentence-transformers/all-MiniLM-L6-v2",
            params=params,
        ),
        timeout=300,
    )
    assert job["status"] == "succeeded", job
    return job
