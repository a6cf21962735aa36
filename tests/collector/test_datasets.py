"""Datasets and comparisons: creation, progress counts, prompt deduplication, the domain entry point."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.core.errors import NotFoundError, PayloadTooLargeError
from services.domain.comparisons import NewComparison, add_comparisons
from tests.helpers.collector import table_counts, unique


def test_create_dataset_answers_with_zero_progress(admin: httpx.Client) -> None:
    name = unique("ds")
    response = admin.post(
        "/api/v1/datasets", json={"name": name, "guidelines": "Be kind.", "annotations_per_comparison": 3}
    )
    assert response.status_code == 201
    body = response.json()
    assert (
        body["name"] == name and body["guidelines"] == "Be kind." and body["annotations_per_comparison"] == 3
    )
    assert {
        k: body[k] for k in ("comparisons", "complete", "remaining", "votes", "skips", "votes_needed")
    } == dict.fromkeys(("comparisons", "complete", "remaining", "votes", "skips", "votes_needed"), 0)


def test_dataset_progress_counts(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(3, k=2)
    alice, bob = make_annotator(), make_annotator()
    first, second, _ = dataset["ids"]
    for client in (alice, bob):
        client.post(f"/api/v1/comparisons/{first}/preferences", json={"choice": "a"}).raise_for_status()
    alice.post(f"/api/v1/comparisons/{second}/preferences", json={"choice": "skip"}).raise_for_status()
    bob.post(f"/api/v1/comparisons/{second}/preferences", json={"choice": "tie"}).raise_for_status()
    body = admin.get(f"/api/v1/datasets/{dataset['id']}").json()
    assert {
        k: body[k] for k in ("comparisons", "complete", "remaining", "votes", "skips", "votes_needed")
    } == {
        "comparisons": 3,
        "complete": 1,
        "remaining": 2,
        "votes": 3,
        "skips": 1,
        "votes_needed": 3,  # one for the second comparison, two for the third
    }
    listed = admin.get("/api/v1/datasets").json()
    assert listed["count"] == len(listed["data"])
    assert next(d for d in listed["data"] if d["id"] == dataset["id"]) == body


def test_add_comparisons_returns_ids_in_order_and_stores_prompts_once(
    make_dataset: Callable, admin: httpx.Client, db: Session
) -> None:
    dataset = make_dataset(0)
    prompt = unique("shared prompt")
    items = [
        {"prompt": prompt, "response_a": f"a{i}", "response_b": f"b{i}", "metadata": {"i": i}}
        for i in range(5)
    ]
    ids = admin.post(f"/api/v1/datasets/{dataset['id']}/comparisons", json={"items": items}).json()["ids"]
    assert len(ids) == 5
    rows = db.execute(
        text("SELECT c.id, c.response_a, c.metadata FROM comparison c WHERE c.id = ANY(:ids) ORDER BY c.id"),
        {"ids": ids},
    ).all()
    assert [(r.id, r.response_a, r.metadata) for r in rows] == [(ids[i], f"a{i}", {"i": i}) for i in range(5)]
    assert db.execute(text("SELECT count(*) FROM prompt WHERE text = :t"), {"t": prompt}).scalar_one() == 1
    # The same prompt in another dataset reuses the row too.
    other = make_dataset(0)
    admin.post(f"/api/v1/datasets/{other['id']}/comparisons", json={"items": items[:1]}).raise_for_status()
    assert db.execute(text("SELECT count(*) FROM prompt WHERE text = :t"), {"t": prompt}).scalar_one() == 1


def test_batch_of_exactly_1000_items_is_accepted(make_dataset: Callable) -> None:
    assert len(make_dataset(1000)["ids"]) == 1000


def test_add_comparisons_domain_function_checks_versions_and_sizes(
    make_dataset: Callable, db: Session
) -> None:
    dataset = make_dataset(0)
    before = table_counts(db)
    with pytest.raises(NotFoundError):
        add_comparisons(db, dataset["id"], [NewComparison("p", "a", "b", source_a_version_id=987654321)])
    db.rollback()
    with pytest.raises(PayloadTooLargeError):
        add_comparisons(
            db, dataset["id"], [NewComparison("p", "a", "b"), NewComparison("p", "a" * 100_001, "b")]
        )
    db.rollback()
    with pytest.raises(NotFoundError):
        add_comparisons(db, 987654321, [NewComparison("p", "a", "b")])
    db.rollback()
    assert table_counts(db) == before
