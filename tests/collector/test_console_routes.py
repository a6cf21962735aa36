"""The routes the operator console added: dataset settings (PATCH), the import formats' example lines, and
win rates over every dataset."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy.orm import Session

from services.core.enums import ImportFormat
from services.core.orm import ModelVersion
from services.domain.comparisons import NewComparison, add_comparisons
from services.domain.intervals import wilson
from tests.helpers.collector import unique


def vote(client: httpx.Client, comparison_id: int, choice: str) -> None:
    answer = client.post(f"/api/v1/comparisons/{comparison_id}/preferences", json={"choice": choice})
    answer.raise_for_status()


def test_patch_changes_settings_and_leaves_the_rest(make_dataset: Callable, admin: httpx.Client) -> None:
    dataset = make_dataset(2, guidelines="old")
    answer = admin.patch(
        f"/api/v1/datasets/{dataset['id']}",
        json={"guidelines": "Prefer <b>honest</b> answers.", "gold_rate": 0.1, "sampling": "random"},
    )
    assert answer.status_code == 200, answer.text
    changed = answer.json()
    assert changed["guidelines"] == "Prefer <b>honest</b> answers."
    assert changed["gold_rate"] == 0.1 and changed["sampling"] == "random"
    assert changed["name"] == dataset["name"] and changed["annotations_per_comparison"] == 1
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").json() == changed


def test_a_new_k_reopens_and_closes_comparisons(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(3, k=1)
    voter = make_annotator()
    for cid in dataset["ids"][:2]:
        vote(voter, cid, "a")
    path = f"/api/v1/datasets/{dataset['id']}"
    assert admin.get(path).json()["complete"] == 2

    raised = admin.patch(path, json={"annotations_per_comparison": 2}).json()
    assert (raised["complete"], raised["remaining"], raised["votes_needed"]) == (0, 3, 4)
    # The reopened comparisons are handed out again, to someone who has not judged them.
    second = make_annotator()
    assert second.get(f"/api/v1/datasets/{dataset['id']}/next").json()["comparison_id"] == dataset["ids"][0]

    lowered = admin.patch(path, json={"annotations_per_comparison": 1}).json()
    assert (lowered["complete"], lowered["remaining"]) == (2, 1)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"annotations_per_comparison": 0}, 422),
        ({"annotations_per_comparison": 101}, 422),
        ({"gold_rate": 1.5}, 422),
        ({"sampling": "alphabetical"}, 422),
        ({"name": "renamed"}, 422),
        ({"guidelines": "a\x00b"}, 422),
        ({"guidelines": "€" * 34_000}, 413),
    ],
)
def test_patch_bad_input_changes_nothing(
    body: dict, status: int, make_dataset: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(1, guidelines="kept")
    before = admin.get(f"/api/v1/datasets/{dataset['id']}").json()
    answer = admin.patch(f"/api/v1/datasets/{dataset['id']}", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"]
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").json() == before


def test_patch_k_of_a_prompt_dataset_is_refused(admin: httpx.Client) -> None:
    created = admin.post("/api/v1/datasets", json={"name": unique("prompts"), "kind": "prompt"}).json()
    answer = admin.patch(f"/api/v1/datasets/{created['id']}", json={"annotations_per_comparison": 2})
    assert answer.status_code == 422 and "prompt dataset has no comparisons" in answer.json()["detail"]
    assert admin.patch("/api/v1/datasets/999999999", json={"guidelines": "x"}).status_code == 404


def test_import_formats_give_a_line_each_format_imports(admin: httpx.Client) -> None:
    formats = admin.get("/api/v1/import-formats").raise_for_status().json()["data"]
    assert {item["format"] for item in formats} == set(ImportFormat)
    for item in formats:
        json.loads(item["example"])
        query = {"name": unique("fmt"), "format": item["format"], "with_preferences": "false"}
        answer = admin.post("/api/v1/datasets/import", params=query, content=item["example"].encode())
        assert answer.status_code == 201, (item, answer.text)


def test_win_rates_add_up_over_datasets(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client, db: Session
) -> None:
    old, new, other = (
        ModelVersion(name=unique("policy"), kind="policy", base_model="builtin:tiny-gpt2", path="x")
        for _ in range(3)
    )
    db.add_all([old, new, other])
    db.commit()
    voter = make_annotator()
    # Dataset one: new wins 2, old 1. Dataset two: new wins 1, one tie. Other vs old elsewhere: left out.
    for pairs, choices in [
        ([(old, new), (new, old), (old, new)], ["b", "a", "a"]),
        ([(new, old), (old, new), (old, other)], ["a", "tie", "a"]),
    ]:
        dataset = make_dataset(0)
        items = [
            NewComparison(f"q{i}", "x", "y", source_a_version_id=a.id, source_b_version_id=b.id)
            for i, (a, b) in enumerate(pairs)
        ]
        for cid, choice in zip(add_comparisons(db, dataset["id"], items), choices, strict=True):
            vote(voter, cid, choice)

    answer = admin.get("/api/v1/win-rates", params={"version_id": new.id}).raise_for_status().json()
    low, high = wilson(1.5, 5) or [0.0, 1.0]
    assert answer == {
        "count": 1,
        "data": [
            {
                "version_a": old.id,
                "version_b": new.id,
                "wins_a": 1,
                "wins_b": 3,
                "ties": 1,
                "win_rate_a": pytest.approx(0.3),
                "ci95_low": pytest.approx(low),
                "ci95_high": pytest.approx(high),
                "interval": "wilson",
            }
        ],
    }
    everything = admin.get("/api/v1/win-rates").json()["data"]
    assert {(r["version_a"], r["version_b"]) for r in everything} >= {(old.id, new.id), (old.id, other.id)}
    assert admin.get("/api/v1/win-rates", params={"version_id": 999999999}).status_code == 404
    assert admin.get("/api/v1/win-rates", params={"version_id": 0}).status_code == 422


def test_comparisons_listed_in_pages_with_gold_and_votes(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(5)
    vote(make_annotator(), dataset["ids"][0], "b")
    admin.put(f"/api/v1/comparisons/{dataset['ids'][1]}/gold", json={"gold": "a"}).raise_for_status()
    path = f"/api/v1/datasets/{dataset['id']}/comparisons"

    first = admin.get(path, params={"limit": 2}).raise_for_status().json()
    assert first["count"] == 5 and [c["id"] for c in first["data"]] == dataset["ids"][:2]
    voted, gold = first["data"]
    assert (
        voted["prompt"] == f"{dataset['name']}-0 prompt 0"
        and voted["response_a"] == f"{dataset['name']}-0 A 0"
    )
    assert (voted["vote_count"], voted["complete"], voted["gold"]) == (1, True, None)
    assert (gold["gold"], gold["complete"]) == ("a", False)
    rest = admin.get(path, params={"offset": 2, "limit": 10}).json()["data"]
    assert [c["id"] for c in rest] == dataset["ids"][2:]


def test_comparisons_list_refuses_what_has_none(admin: httpx.Client) -> None:
    created = admin.post("/api/v1/datasets", json={"name": unique("prompts"), "kind": "prompt"}).json()
    answer = admin.get(f"/api/v1/datasets/{created['id']}/comparisons")
    assert answer.status_code == 409 and "comparisons go to preference datasets" in answer.json()["detail"]
    assert admin.get("/api/v1/datasets/999999999/comparisons").status_code == 404
    assert admin.get(f"/api/v1/datasets/{created['id']}/comparisons", params={"limit": 0}).status_code == 422
