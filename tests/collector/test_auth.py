"""Annotator tokens reach only me/next/preferences; everything else needs the admin token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

Endpoint = tuple[str, str, dict[str, Any] | None]

ADMIN_ENDPOINTS: list[Endpoint] = [
    ("POST", "/api/v1/annotators", {"name": "mallory"}),
    ("POST", "/api/v1/datasets", {"name": "mallory's"}),
    ("GET", "/api/v1/datasets", None),
    ("GET", "/api/v1/datasets/{dataset}", None),
    (
        "POST",
        "/api/v1/datasets/{dataset}/comparisons",
        {"items": [{"prompt": "p", "response_a": "a", "response_b": "b"}]},
    ),
    ("POST", "/api/v1/datasets/{dataset}/import?format=trl", None),
    ("GET", "/api/v1/datasets/{dataset}/export?format=trl", None),
    ("GET", "/api/v1/datasets/{dataset}/stats", None),
    ("POST", "/api/v1/rewards", {"name": "mallory", "components": [{"function": "rouge1"}]}),
    ("GET", "/api/v1/rewards", None),
    ("POST", "/api/v1/models", {"kind": "reward", "source": "/tmp", "label": 0}),
]
ANNOTATOR_ENDPOINTS: list[Endpoint] = [
    ("GET", "/api/v1/me", None),
    ("GET", "/api/v1/datasets/{dataset}/next", None),
    ("POST", "/api/v1/comparisons/{comparison}/preferences", {"choice": "a"}),
]


def call(
    client: httpx.Client, endpoint: tuple, dataset: dict, headers: dict[str, str] | None = None
) -> httpx.Response:
    method, path, body = endpoint
    url = path.format(dataset=dataset["id"], comparison=dataset["ids"][0])
    return client.request(method, url, json=body, headers=headers)


@pytest.mark.parametrize("endpoint", ADMIN_ENDPOINTS, ids=lambda e: f"{e[0]} {e[1]}")
def test_annotator_token_refused_on_admin_endpoint(
    endpoint: tuple, make_dataset: Callable, make_annotator: Callable
) -> None:
    dataset = make_dataset(1)
    response = call(make_annotator(), endpoint, dataset)
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]


@pytest.mark.parametrize("endpoint", ADMIN_ENDPOINTS + ANNOTATOR_ENDPOINTS, ids=lambda e: f"{e[0]} {e[1]}")
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic YWRtaW46YWRtaW4="])
def test_missing_or_wrong_token_unauthorized(
    endpoint: tuple, authorization: str | None, make_dataset: Callable, collector_url: str
) -> None:
    dataset = make_dataset(1)
    headers = {"Authorization": authorization} if authorization else {}
    with httpx.Client(base_url=collector_url) as anonymous:
        response = call(anonymous, endpoint, dataset, headers)
    assert response.status_code == 401
    assert response.json()["detail"]


@pytest.mark.parametrize("endpoint", ANNOTATOR_ENDPOINTS, ids=lambda e: f"{e[0]} {e[1]}")
def test_admin_token_refused_on_annotator_endpoint(
    endpoint: tuple, make_dataset: Callable, admin: httpx.Client
) -> None:
    response = call(admin, endpoint, make_dataset(1))
    assert response.status_code == 403
