"""Fixtures for the collector's tests: datasets, and annotators with their own clients (tests/helpers/collector.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.helpers.collector import AnnotatorClient, comparison_items, unique


@pytest.fixture
def make_dataset(admin: httpx.Client) -> Callable[..., dict[str, Any]]:
    """Create a dataset with `n` comparisons; returns the dataset JSON plus its comparison `ids`."""

    def make(n: int = 0, *, k: int = 1, **fields: Any) -> dict[str, Any]:
        body = {"name": unique("ds"), "annotations_per_comparison": k, **fields}
        dataset = admin.post("/api/v1/datasets", json=body).raise_for_status().json()
        ids: list[int] = []
        for start in range(0, n, 1000):
            items = comparison_items(min(1000, n - start), prefix=f"{dataset['name']}-{start}")
            response = admin.post(f"/api/v1/datasets/{dataset['id']}/comparisons", json={"items": items})
            ids += response.raise_for_status().json()["ids"]
        return dataset | {"ids": ids}

    return make


@pytest.fixture
def make_annotator(admin: httpx.Client, collector_url: str) -> Iterator[Callable[..., AnnotatorClient]]:
    """Create an annotator; returns an HTTP client carrying their token (`.annotator` holds id and name)."""
    clients: list[AnnotatorClient] = []

    def make(name: str | None = None, *, base_url: str | None = None) -> AnnotatorClient:
        created = (
            admin.post("/api/v1/annotators", json={"name": name or unique("ann")}).raise_for_status().json()
        )
        client = AnnotatorClient(created, base_url=base_url or collector_url, timeout=60)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
