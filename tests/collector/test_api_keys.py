"""API keys: issued by the admin with scopes, shown once, listed without the key, revoked at once; each scope
reaches its routes and no others."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.core.security import hash_token
from tests.helpers.collector import unique


def _issue(admin: httpx.Client, *scopes: str, **fields: Any) -> dict[str, Any]:
    response = admin.post("/api/v1/api-keys", json={"name": unique("key"), "scopes": list(scopes), **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _as(collector_url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=collector_url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def test_a_key_is_shown_once_and_stored_hashed(admin: httpx.Client, db: Session) -> None:
    created = _issue(admin, "read", "infer")
    assert {"id", "name", "key", "scopes"} <= set(created)
    assert sorted(created["scopes"]) == ["infer", "read"]
    stored = db.execute(
        text("SELECT key_hash FROM api_key WHERE id = :id"), {"id": created["id"]}
    ).scalar_one()
    assert stored == hash_token(created["key"]) and created["key"] not in stored
    listed = admin.get("/api/v1/api-keys").json()
    mine = next(item for item in listed["data"] if item["id"] == created["id"])
    assert "key" not in mine and mine["status"] == "active"
    assert created["key"] not in str(listed)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "k", "scopes": []},
        {"name": "k", "scopes": ["everything"]},
        {"name": "", "scopes": ["read"]},
        {"name": "k", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"},
        {"name": "k", "scopes": ["read"], "expires_at": "2099-01-01T00:00:00"},
    ],
)
def test_bad_key_requests_are_422_and_store_nothing(admin: httpx.Client, db: Session, body: dict) -> None:
    before = db.execute(text("SELECT count(*) FROM api_key")).scalar_one()
    assert admin.post("/api/v1/api-keys", json=body).status_code == 422
    assert db.execute(text("SELECT count(*) FROM api_key")).scalar_one() == before


def test_read_key_reaches_get_routes_and_exports_only(
    admin: httpx.Client, collector_url: str, make_dataset: Callable
) -> None:
    dataset = make_dataset(1)
    with _as(collector_url, _issue(admin, "read")["key"]) as reader:
        for path in (
            "/datasets",
            f"/datasets/{dataset['id']}",
            f"/datasets/{dataset['id']}/stats",
            "/jobs",
            "/models",
        ):
            assert reader.get("/api/v1" + path).status_code == 200, path
        assert reader.get(f"/api/v1/datasets/{dataset['id']}/export?format=trl").status_code == 200
        refused = reader.post("/api/v1/datasets", json={"name": unique("no")})
        assert refused.status_code == 403 and "admin" in refused.json()["detail"]
        assert (
            reader.post("/api/v1/jobs", json={"kind": "sft", "dataset_id": dataset["id"]}).status_code == 403
        )
        assert reader.get("/api/v1/api-keys").status_code == 403
        assert reader.get(f"/api/v1/datasets/{dataset['id']}/next").status_code == 403


def test_train_key_reaches_jobs_and_models_not_datasets(
    admin: httpx.Client, collector_url: str, make_dataset: Callable
) -> None:
    dataset = make_dataset(1)
    with _as(collector_url, _issue(admin, "train")["key"]) as trainer:
        assert trainer.get("/api/v1/jobs").status_code == 200
        assert trainer.get("/api/v1/job-kinds").status_code == 200
        assert trainer.get("/api/v1/models").status_code == 200
        # Past authorization: the job's own validation answers (an unknown parameter).
        bad_job = trainer.post(
            "/api/v1/jobs", json={"kind": "sft", "dataset_id": dataset["id"], "params": {"nope": 1}}
        )
        assert bad_job.status_code == 422
        assert trainer.post("/api/v1/jobs/999999999/cancel").status_code == 404
        assert trainer.get(f"/api/v1/datasets/{dataset['id']}").status_code == 403
        assert trainer.post("/api/v1/annotators", json={"name": "x"}).status_code == 403


def test_admin_scope_key_has_every_right(admin: httpx.Client, collector_url: str) -> None:
    with _as(collector_url, _issue(admin, "admin")["key"]) as operator:
        assert operator.post("/api/v1/datasets", json={"name": unique("ok")}).status_code == 201
        assert operator.get("/api/v1/api-keys").status_code == 200
        assert operator.get("/api/v1/me").status_code == 403  # an annotator's route, not a key's


def test_revoking_a_key_refuses_it_at_once(admin: httpx.Client, collector_url: str) -> None:
    created = _issue(admin, "read")
    with _as(collector_url, created["key"]) as reader:
        assert reader.get("/api/v1/datasets").status_code == 200
        assert admin.delete(f"/api/v1/api-keys/{created['id']}").status_code == 204
        refused = reader.get("/api/v1/datasets")
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
        assert reader.post("/api/v1/datasets", content=b"x" * 100_000).status_code == 401
    listed = admin.get("/api/v1/api-keys").json()["data"]
    assert next(item for item in listed if item["id"] == created["id"])["status"] == "revoked"
    assert admin.delete("/api/v1/api-keys/999999999").status_code == 404


def test_an_expired_key_is_refused(admin: httpx.Client, collector_url: str, db: Session) -> None:
    created = _issue(admin, "read")
    db.execute(
        text("UPDATE api_key SET expires_at = now() - interval '1 second' WHERE id = :id"),
        {"id": created["id"]},
    )
    db.commit()
    with _as(collector_url, created["key"]) as reader:
        refused = reader.get("/api/v1/datasets")
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]


def test_only_the_admin_issues_keys(
    admin: httpx.Client, collector_url: str, make_annotator: Callable
) -> None:
    assert (
        make_annotator().post("/api/v1/api-keys", json={"name": "k", "scopes": ["admin"]}).status_code == 403
    )
    with _as(collector_url, _issue(admin, "read", "train", "infer")["key"]) as key:
        assert key.post("/api/v1/api-keys", json={"name": "k", "scopes": ["admin"]}).status_code == 403
