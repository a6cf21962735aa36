"""Helpers for tests against the collector: unique names, table counts, comparison items, annotator clients."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session

TABLES = (
    "annotator",
    "annotator_dataset",
    "annotator_pause",
    "dataset",
    "prompt",
    "comparison",
    "lease",
    "preference",
    "job",
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def table_counts(db: Session) -> dict[str, int]:
    db.rollback()  # a fresh snapshot
    return {table: db.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in TABLES}


def comparison_items(n: int, *, prefix: str = "") -> list[dict[str, Any]]:
    tag = prefix or uuid.uuid4().hex[:8]
    return [
        {"prompt": f"{tag} prompt {i}", "response_a": f"{tag} A {i}", "response_b": f"{tag} B {i}"}
        for i in range(n)
    ]


class AnnotatorClient(httpx.Client):
    """An HTTP client carrying an annotator's token; `annotator` is the API's answer (id, name, token)."""

    def __init__(self, annotator: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(headers={"Authorization": f"Bearer {annotator['token']}"}, **kwargs)
        self.annotator = annotator
