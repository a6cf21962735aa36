"""Exports: which comparisons a trl export keeps, their margins, and the raw vote dump."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx


def export(admin: httpx.Client, dataset_id: int, fmt: str) -> list[dict]:
    response = admin.get(f"/api/v1/datasets/{dataset_id}/export", params={"format": fmt})
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def cast(clients: list[httpx.Client], comparison_id: int, votes: list[dict]) -> None:
    for client, body in zip(clients, votes, strict=False):
        response = client.post(f"/api/v1/comparisons/{comparison_id}/preferences", json=body)
        assert response.status_code == 201, response.text


def test_trl_export_keeps_decided_majorities_with_margins(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(6, k=3)
    ids = dataset["ids"]
    people = [make_annotator() for _ in range(3)]
    cast(
        people,
        ids[0],
        [{"choice": "a", "strength": 3}, {"choice": "a", "strength": 1}, {"choice": "b", "strength": 2}],
    )
    cast(people, ids[1], [{"choice": "a"}, {"choice": "b"}])  # a/b level: undecided
    cast(people, ids[2], [{"choice": "tie"}, {"choice": "tie"}, {"choice": "b"}])  # ties do not vote
    cast(people, ids[3], [{"choice": "skip"}])
    cast(people, ids[4], [{"choice": "tie", "both_bad": True}, {"choice": "a", "strength": 2}])
    cast(people, ids[5], [{"choice": "tie"}])

    lines = export(admin, dataset["id"], "trl")
    prefix = dataset["name"]
    assert lines == [
        # (mean(3, 1) - 1) / 2
        {
            "prompt": f"{prefix}-0 prompt 0",
            "chosen": f"{prefix}-0 A 0",
            "rejected": f"{prefix}-0 B 0",
            "margin": 0.5,
        },
        # a missing strength counts as 1
        {
            "prompt": f"{prefix}-0 prompt 2",
            "chosen": f"{prefix}-0 B 2",
            "rejected": f"{prefix}-0 A 2",
            "margin": 0,
        },
        {
            "prompt": f"{prefix}-0 prompt 4",
            "chosen": f"{prefix}-0 A 4",
            "rejected": f"{prefix}-0 B 4",
            "margin": 0.5,
        },
    ]


def test_raw_export_has_every_vote_with_its_details(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(2, k=2)
    alice, bob = make_annotator(), make_annotator()
    cid = alice.get(f"/api/v1/datasets/{dataset['id']}/next").json()["comparison_id"]
    alice.post(
        f"/api/v1/comparisons/{cid}/preferences",
        json={
            "choice": "b",
            "strength": 2,
            "rationale": 'more "accurate"\nand kind',
            "time_spent_ms": 4100,
            "shown_left": "b",
        },
    ).raise_for_status()
    bob.post(f"/api/v1/comparisons/{cid}/preferences", json={"choice": "skip"}).raise_for_status()
    bob.post(
        f"/api/v1/comparisons/{dataset['ids'][1]}/preferences", json={"choice": "tie", "both_bad": True}
    ).raise_for_status()

    lines = export(admin, dataset["id"], "raw")
    assert [(x["comparison_id"], x["annotator_id"], x["choice"]) for x in lines] == [
        (cid, alice.annotator["id"], "b"),
        (cid, bob.annotator["id"], "skip"),
        (dataset["ids"][1], bob.annotator["id"], "tie"),
    ]
    first = lines[0]
    assert first["prompt"] == f"{dataset['name']}-0 prompt 0"
    assert (
        first["response_a"] == f"{dataset['name']}-0 A 0"
        and first["response_b"] == f"{dataset['name']}-0 B 0"
    )
    assert (first["strength"], first["rationale"], first["time_spent_ms"], first["shown_left"]) == (
        2,
        'more "accurate"\nand kind',
        4100,
        "b",
    )
    assert first["both_bad"] is False and lines[2]["both_bad"] is True
    assert first["leased_at"] is not None and lines[1]["leased_at"] is None  # bob voted without a lease
    assert first["created_at"] <= lines[1]["created_at"]
    assert set(first) == {
        "comparison_id",
        "prompt",
        "response_a",
        "response_b",
        "reference",
        "metadata",
        "source_a_version_id",
        "source_b_version_id",
        "preference_id",
        "annotator_id",
        "choice",
        "strength",
        "rationale",
        "both_bad",
        "shown_left",
        "time_spent_ms",
        "leased_at",
        "created_at",
        "server_time_ms",
        "gold",
        "flagged",
        "source",
        "preference_metadata",
    }
    assert (first["source"], first["preference_metadata"]) == ("human", {})
    assert first["server_time_ms"] >= 0 and lines[1]["server_time_ms"] is None
    assert first["gold"] is None and first["flagged"] is False


def test_export_of_empty_dataset_is_empty(make_dataset: Callable, admin: httpx.Client) -> None:
    dataset = make_dataset(3)
    assert export(admin, dataset["id"], "trl") == []
    assert export(admin, dataset["id"], "raw") == []
