"""Annotators as the admin manages them: expiry, revocation, new tokens, dataset assignment; and what each
does to the annotator's own requests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.helpers.collector import AnnotatorClient, table_counts, unique

ANNOTATOR_REQUESTS = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/datasets/{dataset}/next"),
    ("POST", "/api/v1/comparisons/{comparison}/preferences"),
]


def create(admin: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"name": unique("ann"), **fields}
    return admin.post("/api/v1/annotators", json=body).raise_for_status().json()


def as_annotator(created: dict[str, Any], collector_url: str) -> AnnotatorClient:
    return AnnotatorClient(created, base_url=collector_url, timeout=60)


def request(client: httpx.Client, method: str, path: str, dataset: dict[str, Any]) -> httpx.Response:
    url = path.format(dataset=dataset["id"], comparison=dataset["ids"][0])
    return client.request(method, url, json={"choice": "a"} if method == "POST" else None)


def in_an_hour() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).isoformat()


def test_create_answers_token_expiry_and_datasets(admin: httpx.Client, make_dataset: Callable) -> None:
    dataset = make_dataset(1)
    expires = in_an_hour()
    created = create(admin, expires_at=expires, datasets=[dataset["id"], dataset["id"]])
    assert {"id", "name", "token"} <= set(created)  # the pinned answer, with more beside it
    assert created["status"] == "active" and created["all_datasets"] is False
    assert created["datasets"] == [dataset["id"]]
    assert datetime.fromisoformat(created["expires_at"]) == datetime.fromisoformat(expires)

    plain = create(admin)
    assert plain["all_datasets"] is True and plain["datasets"] == [] and plain["expires_at"] is None


def test_list_shows_status_assignment_and_counts(
    admin: httpx.Client, make_dataset: Callable, collector_url: str
) -> None:
    dataset = make_dataset(3)
    worker = create(admin, datasets=[dataset["id"]])
    with as_annotator(worker, collector_url) as client:
        for choice in ("a", "skip"):
            comparison = client.get(f"/api/v1/datasets/{dataset['id']}/next").json()["comparison_id"]
            client.post(f"/api/v1/comparisons/{comparison}/preferences", json={"choice": choice})
    gone = create(admin)
    admin.post(f"/api/v1/annotators/{gone['id']}/revoke").raise_for_status()

    listed = admin.get("/api/v1/annotators").raise_for_status().json()
    by_id = {item["id"]: item for item in listed["data"]}
    assert listed["count"] == len(listed["data"])
    assert "import" not in {item["name"] for item in listed["data"]}  # the built-in importer is no person
    assert "token" not in by_id[worker["id"]]
    assert by_id[worker["id"]] | {"last_vote_at": None, "created_at": None} == {
        "id": worker["id"],
        "name": worker["name"],
        "status": "active",
        "created_at": None,
        "expires_at": None,
        "revoked_at": None,
        "all_datasets": False,
        "datasets": [dataset["id"]],
        "votes": 1,
        "skips": 1,
        "last_vote_at": None,
    }
    assert by_id[worker["id"]]["last_vote_at"] is not None
    assert by_id[gone["id"]]["status"] == "revoked" and by_id[gone["id"]]["revoked_at"] is not None
    assert admin.get(f"/api/v1/annotators/{worker['id']}").json() == by_id[worker["id"]]


@pytest.mark.parametrize(("method", "path"), ANNOTATOR_REQUESTS, ids=lambda x: x)
def test_revoked_token_is_refused_saying_so_and_stores_nothing(
    method: str, path: str, admin: httpx.Client, make_dataset: Callable, collector_url: str, db: Session
) -> None:
    dataset = make_dataset(1)
    created = create(admin)
    admin.post(f"/api/v1/annotators/{created['id']}/revoke").raise_for_status()
    before = table_counts(db)
    with as_annotator(created, collector_url) as client:
        response = request(client, method, path, dataset)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"] and "new sign-in link" in response.json()["detail"]
    assert table_counts(db) == before


@pytest.mark.parametrize(("method", "path"), ANNOTATOR_REQUESTS, ids=lambda x: x)
def test_expired_token_is_refused_saying_so(
    method: str, path: str, admin: httpx.Client, make_dataset: Callable, collector_url: str, db: Session
) -> None:
    dataset = make_dataset(1)
    created = create(admin, expires_at=in_an_hour())
    with as_annotator(created, collector_url) as client:
        assert client.get("/api/v1/me").status_code == 200
        # An hour later, as the database's clock sees it.
        db.execute(
            text("UPDATE annotator SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": created["id"]},
        )
        db.commit()
        response = request(client, method, path, dataset)
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    assert admin.get(f"/api/v1/annotators/{created['id']}").json()["status"] == "expired"


def test_revoke_frees_their_lease_and_keeps_their_votes(
    admin: httpx.Client, make_dataset: Callable, make_annotator: Callable, collector_url: str
) -> None:
    dataset = make_dataset(2, k=1)
    alice = as_annotator(create(admin), collector_url)
    first = alice.get(f"/api/v1/datasets/{dataset['id']}/next").json()["comparison_id"]
    alice.post(f"/api/v1/comparisons/{first}/preferences", json={"choice": "b"}).raise_for_status()
    held = alice.get(f"/api/v1/datasets/{dataset['id']}/next").json()["comparison_id"]
    bob = make_annotator()
    assert bob.get(f"/api/v1/datasets/{dataset['id']}/next").status_code == 204  # alice holds the last one

    revoked = admin.post(f"/api/v1/annotators/{alice.annotator['id']}/revoke").raise_for_status().json()
    assert revoked["status"] == "revoked" and revoked["votes"] == 1
    assert bob.get(f"/api/v1/datasets/{dataset['id']}/next").json()["comparison_id"] == held
    again = admin.post(f"/api/v1/annotators/{alice.annotator['id']}/revoke").json()
    assert again["revoked_at"] == revoked["revoked_at"]  # revoking twice keeps the first time
    alice.close()


def test_new_token_replaces_the_old_one(admin: httpx.Client, collector_url: str) -> None:
    created = create(admin)
    rotated = admin.post(f"/api/v1/annotators/{created['id']}/token").raise_for_status().json()
    assert rotated["id"] == created["id"] and rotated["token"] != created["token"]
    with as_annotator(created, collector_url) as old, as_annotator(rotated, collector_url) as new:
        assert old.get("/api/v1/me").status_code == 401
        assert new.get("/api/v1/me").json()["id"] == created["id"]


def test_new_token_of_an_expired_annotator_needs_a_new_expiry(
    admin: httpx.Client, collector_url: str, db: Session
) -> None:
    created = create(admin, expires_at=in_an_hour())
    db.execute(
        text("UPDATE annotator SET expires_at = now() - interval '1 second' WHERE id = :id"),
        {"id": created["id"]},
    )
    db.commit()
    refused = admin.post(f"/api/v1/annotators/{created['id']}/token")
    assert refused.status_code == 422 and "expires_at" in refused.json()["detail"]
    with as_annotator(created, collector_url) as old:
        assert "expired" in old.get("/api/v1/me").json()["detail"]  # the refusal changed nothing

    rotated = admin.post(f"/api/v1/annotators/{created['id']}/token", json={"expires_at": None})
    assert rotated.status_code == 201 and rotated.json()["expires_at"] is None
    with as_annotator(rotated.json(), collector_url) as new:
        assert new.get("/api/v1/me").status_code == 200


def test_new_token_of_a_revoked_annotator_conflicts(admin: httpx.Client, collector_url: str) -> None:
    created = create(admin)
    admin.post(f"/api/v1/annotators/{created['id']}/revoke").raise_for_status()
    response = admin.post(f"/api/v1/annotators/{created['id']}/token")
    assert response.status_code == 409 and "revoked" in response.json()["detail"]


def test_assigned_annotator_sees_and_gets_only_their_datasets(
    admin: httpx.Client, make_dataset: Callable, collector_url: str
) -> None:
    mine, other = make_dataset(2), make_dataset(2)
    with as_annotator(create(admin, datasets=[mine["id"]]), collector_url) as annotator:
        assert [d["id"] for d in annotator.get("/api/v1/me").json()["datasets"]] == [mine["id"]]
        assert annotator.get(f"/api/v1/datasets/{mine['id']}/next").status_code == 200
        refused = annotator.get(f"/api/v1/datasets/{other['id']}/next")
        assert refused.status_code == 403 and "not assigned" in refused.json()["detail"]


def test_vote_on_a_dataset_never_given_is_forbidden_and_stores_nothing(
    admin: httpx.Client, make_dataset: Callable, collector_url: str, db: Session
) -> None:
    mine, other = make_dataset(1), make_dataset(1)
    with as_annotator(create(admin, datasets=[mine["id"]]), collector_url) as annotator:
        before = table_counts(db)
        response = annotator.post(f"/api/v1/comparisons/{other['ids'][0]}/preferences", json={"choice": "a"})
    assert response.status_code == 403 and response.json()["detail"]
    assert table_counts(db) == before


def test_empty_assignment_gives_no_dataset(
    admin: httpx.Client, make_dataset: Callable, collector_url: str
) -> None:
    dataset = make_dataset(1)
    with as_annotator(create(admin, datasets=[]), collector_url) as annotator:
        assert annotator.get("/api/v1/me").json()["datasets"] == []
        assert annotator.get(f"/api/v1/datasets/{dataset['id']}/next").status_code == 403


def test_assignment_change_frees_leases_elsewhere_and_null_gives_every_dataset(
    admin: httpx.Client, make_dataset: Callable, make_annotator: Callable, collector_url: str
) -> None:
    first, second = make_dataset(1, k=1), make_dataset(1, k=1)
    created = create(admin)
    with as_annotator(created, collector_url) as annotator:
        held = annotator.get(f"/api/v1/datasets/{first['id']}/next").json()["comparison_id"]
        moved = admin.put(f"/api/v1/annotators/{created['id']}/datasets", json={"datasets": [second["id"]]})
        assert moved.json()["all_datasets"] is False and moved.json()["datasets"] == [second["id"]]
        # Their lease on the dataset they lost is back in the pool.
        assert make_annotator().get(f"/api/v1/datasets/{first['id']}/next").json()["comparison_id"] == held
        assert annotator.get(f"/api/v1/datasets/{first['id']}/next").status_code == 403

        everything = admin.put(f"/api/v1/annotators/{created['id']}/datasets", json={"datasets": None}).json()
        assert everything["all_datasets"] is True and everything["datasets"] == []
        listed = {d["id"] for d in annotator.get("/api/v1/me").json()["datasets"]}
        assert {first["id"], second["id"]} <= listed


def test_refused_assignment_changes_nothing(admin: httpx.Client, make_dataset: Callable, db: Session) -> None:
    dataset = make_dataset(1)
    created = create(admin, datasets=[dataset["id"]])
    before = table_counts(db)
    response = admin.put(
        f"/api/v1/annotators/{created['id']}/datasets", json={"datasets": [dataset["id"], 999_999_999]}
    )
    assert response.status_code == 422 and "999999999" in response.json()["detail"]
    assert table_counts(db) == before
    assert admin.get(f"/api/v1/annotators/{created['id']}").json()["datasets"] == [dataset["id"]]


def test_annotator_routes_need_the_admin_token(admin: httpx.Client, collector_url: str) -> None:
    created = create(admin)
    with as_annotator(created, collector_url) as annotator:
        for method, path in [
            ("GET", "/api/v1/annotators"),
            ("POST", f"/api/v1/annotators/{created['id']}/revoke"),
            ("POST", f"/api/v1/annotators/{created['id']}/token"),
            ("PUT", f"/api/v1/annotators/{created['id']}/datasets"),
        ]:
            response = annotator.request(method, path, json={"datasets": None} if method == "PUT" else None)
            assert response.status_code == 403, (method, path)
        assert annotator.get("/api/v1/me").status_code == 200  # still theirs
