"""A film-review preference the tiny built-in policy can learn in seconds, and a MiniLM reward model for it.

The built-in policy was pretrained on prose that includes film reviews, so it already writes both praise and
complaint; a reward model that prefers praise gives PPO a signal it can follow in a few steps. MiniLM has a
WordPiece tokenizer, the policy a byte-level BPE one: the PPO and RLOO jobs must bridge the two.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.jobs import submit, wait_for_job
from tests.helpers.paths import DATA_DIR

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


# ---- the movie-review polarity data (Pang & Lee 2004) as labelled rows, for classifier jobs ----

MOVIE_REVIEWS = DATA_DIR / "movie_review_polarity_v2.zip"


def read_reviews(archive: Path = MOVIE_REVIEWS) -> dict[str, list[list[str]]]:
    """{"pos": reviews, "neg": reviews}, each review its non-empty lines, files in name order."""
    with zipfile.ZipFile(archive) as reviews:
        return {
            label: [
                [line.strip() for line in reviews.read(name).decode().splitlines() if line.strip()]
                for name in sorted(n for n in reviews.namelist() if f"/{label}/" in n and n.endswith(".txt"))
            ]
            for label in ("pos", "neg")
        }


def review_ending(lines: list[str], words: int) -> str:
    """A review's last `words` words of its last two lines: mostly its verdict."""
    return " ".join(" ".join(lines[-2:]).split()[-words:])


def labelled_reviews(
    per_label: int, *, words: int = 48, offset: int = 0, archive: Path = MOVIE_REVIEWS
) -> list[dict[str, str]]:
    """{"text", "label"} rows: the endings of reviews offset .. offset + per_label of each class, alternating."""
    reviews = read_reviews(archive)
    rows = []
    for positive, negative in list(zip(reviews["pos"], reviews["neg"], strict=True))[
        offset : offset + per_label
    ]:
        rows.append({"text": review_ending(positive, words), "label": "pos"})
        rows.append({"text": review_ending(negative, words), "label": "neg"})
    return rows
