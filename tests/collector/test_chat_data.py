"""Dataset kinds and chat formats: every TRL dataset type imports by its keys (standard or conversational) into a
dataset of its kind and exports back the same rows; conversations reach the annotation queue as messages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets as hf_datasets
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.domain.import_formats import EXAMPLES
from tests.helpers.collector import unique

USER = {"role": "user", "content": "What colour is the sky?"}
SYSTEM = {"role": "system", "content": "Answer briefly."}


def assistant(content: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": content}]


def jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def create(admin: httpx.Client, kind: str | None = None) -> dict[str, Any]:
    body = {"name": unique(f"chat-{kind}")} | ({"kind": kind} if kind else {})
    response = admin.post("/api/v1/datasets", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def import_rows(admin: httpx.Client, dataset_id: int, rows: list[Any], fmt: str = "trl", **params: Any):
    return admin.post(
        f"/api/v1/datasets/{dataset_id}/import",
        params={"format": fmt, "with_preferences": "true" if fmt == "trl" else "false", **params},
        content=jsonl(rows),
    )


def export(admin: httpx.Client, dataset_id: int, fmt: str = "trl") -> list[dict[str, Any]]:
    response = admin.get(f"/api/v1/datasets/{dataset_id}/export", params={"format": fmt})
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def test_datasets_have_a_kind_preference_by_default(admin: httpx.Client) -> None:
    assert create(admin)["kind"] == "preference"
    prompt = create(admin, "prompt")
    assert prompt["kind"] == "prompt" and prompt["examples"] == 0
    listed = {d["id"]: d["kind"] for d in admin.get("/api/v1/datasets").json()["data"]}
    assert listed[prompt["id"]] == "prompt"
    refused = admin.post("/api/v1/datasets", json={"name": unique("bad"), "kind": "chat"})
    assert refused.status_code == 422


PREFERENCE_ROWS = [
    {"prompt": "The sky is", "chosen": " blue.", "rejected": " green.", "margin": 0},
    {
        "prompt": [SYSTEM, USER],
        "chosen": assistant("Blue."),
        "rejected": assistant("Green."),
        "margin": 0,
        "reference": "It is blue.",
    },
]
ROUND_TRIPS = [
    ("preference", PREFERENCE_ROWS),
    ("prompt", [{"prompt": "Write a haiku."}, {"prompt": [USER], "reference": "Blue."}]),
    (
        "demonstration",
        [
            {"prompt": "The sky is", "completion": " blue."},
            {"prompt": [USER], "completion": assistant("Blue.")},
        ],
    ),
]


@pytest.mark.parametrize(("kind", "rows"), ROUND_TRIPS, ids=[kind for kind, _ in ROUND_TRIPS])
def test_trl_rows_of_each_type_round_trip_through_export(
    admin: httpx.Client, kind: str, rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    dataset = create(admin, kind)
    with_preferences = "true" if kind == "preference" else "false"
    response = import_rows(admin, dataset["id"], rows, with_preferences=with_preferences)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["comparisons"] + body["examples"], body["skipped"]) == (len(rows), 0)
    exported = export(admin, dataset["id"])
    assert exported == rows
    # What TRL's users load it with: one file per prompt form (a column holds one type).
    for row in exported:
        path = tmp_path / f"{kind}-{isinstance(row['prompt'], list)}.jsonl"
        path.write_text(json.dumps(row) + "\n")
        loaded = hf_datasets.load_dataset("json", data_files=str(path), split="train")
        assert loaded[0]["prompt"] == row["prompt"]


def test_implicit_prompts_are_extracted_as_trl_does(admin: httpx.Client) -> None:
    dataset = create(admin)
    rows = [
        {"chosen": "The sky is blue.", "rejected": "The sky is green."},
        {"chosen": [USER, *assistant("Blue.")], "rejected": [USER, *assistant("Green.")]},
    ]
    assert import_rows(admin, dataset["id"], rows).status_code == 201
    assert export(admin, dataset["id"]) == [
        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green.", "margin": 0},
        {"prompt": [USER], "chosen": assistant("Blue."), "rejected": assistant("Green."), "margin": 0},
    ]


def test_labelled_rows_round_trip(admin: httpx.Client) -> None:
    dataset = create(admin, "labelled")
    rows = [{"text": "A fine film.", "label": 1}, {"text": "Dull.", "label": "negative"}]
    rows.append({"text": "Fine.", "label": True})
    response = import_rows(admin, dataset["id"], rows, "labelled")
    assert response.status_code == 201, response.text
    assert export(admin, dataset["id"]) == rows
    assert [row["label"] for row in export(admin, dataset["id"], "raw")] == [1, "negative", True]


def test_each_documented_example_line_imports(admin: httpx.Client) -> None:
    for name, line in EXAMPLES.items():
        fmt = name.split()[0]
        response = admin.post(
            "/api/v1/datasets/import",
            params={"name": unique("example"), "format": fmt},
            content=line.encode(),
        )
        assert response.status_code == 201, (name, response.text)
        body = response.json()
        assert body["comparisons"] + body["examples"] == 1, name


@pytest.mark.parametrize(
    ("kind", "row", "fmt", "message"),
    [
        ("preference", {"prompt": "p", "completion": "c"}, "trl", "a demonstration row does not fit"),
        ("prompt", {"prompt": "p", "chosen": "a", "rejected": "b"}, "trl", "a preference row"),
        ("demonstration", {"prompt": "p"}, "trl", "a prompt row does not fit"),
        ("preference", {"text": "t", "label": 1}, "labelled", "a labelled row"),
        ("prompt", {"prompt": [{"role": "robot", "content": "hi"}]}, "trl", "role must be one of"),
        ("prompt", {"prompt": []}, "trl", "non-empty list"),
        ("prompt", {"prompt": [{"role": "user"}]}, "trl", 'exactly "role" and "content"'),
        ("prompt", {"prompt": [{"role": "user", "content": 3}]}, "trl", "content must be a string"),
        ("demonstration", {"prompt": [USER], "completion": "c"}, "trl", "one assistant message"),
        ("preference", {"prompt": "p", "chosen": assistant("a"), "rejected": "b"}, "trl", "must be a string"),
        ("preference", {"chosen": [USER], "rejected": [SYSTEM]}, "trl", "share no leading messages"),
        ("prompt", {"text": "language modelling"}, "trl", "unsupported TRL row"),
        ("labelled", {"text": "t", "label": 0.5}, "labelled", "'label' must be"),
    ],
)
def test_rows_that_do_not_fit_are_refused_and_store_nothing(
    admin: httpx.Client, db: Session, kind: str, row: dict[str, Any], fmt: str, message: str
) -> None:
    dataset = create(admin, kind)
    good = {"prompt": "fine"} if kind == "prompt" else None
    rows = [good, row] if good else [row]
    response = import_rows(admin, dataset["id"], rows, fmt, with_preferences="false")
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    assert f"line {len(rows)}" in response.json()["detail"]
    stored = db.execute(
        text(
            "SELECT (SELECT count(*) FROM example WHERE dataset_id = :id) + "
            "(SELECT count(*) FROM comparison WHERE dataset_id = :id)"
        ),
        {"id": dataset["id"]},
    ).scalar_one()
    assert stored == 0


def test_conversations_reach_the_annotation_queue_as_messages(
    admin: httpx.Client, make_annotator: Callable
) -> None:
    dataset = create(admin)
    item = {"prompt": [SYSTEM, USER], "response_a": "Blue.", "response_b": "Green.", "reference": "Blue."}
    created = admin.post(f"/api/v1/datasets/{dataset['id']}/comparisons", json={"items": [item]})
    assert created.status_code == 201, created.text
    annotator = make_annotator()
    leased = annotator.get(f"/api/v1/datasets/{dataset['id']}/next")
    assert leased.status_code == 200 and leased.json()["prompt"] == [SYSTEM, USER]
    bad_role = {**item, "prompt": [{"role": "robot", "content": "x"}]}
    assert (
        admin.post(f"/api/v1/datasets/{dataset['id']}/comparisons", json={"items": [bad_role]}).status_code
        == 422
    )


def test_only_preference_datasets_are_served_or_take_comparisons(
    admin: httpx.Client, make_annotator: Callable
) -> None:
    dataset = create(admin, "prompt")
    annotator = make_annotator()
    served = annotator.get(f"/api/v1/datasets/{dataset['id']}/next")
    assert served.status_code == 409 and "prompt dataset" in served.json()["detail"]
    assert dataset["id"] not in {d["id"] for d in annotator.get("/api/v1/me").json()["datasets"]}
    item = {"prompt": "p", "response_a": "a", "response_b": "b"}
    added = admin.post(f"/api/v1/datasets/{dataset['id']}/comparisons", json={"items": [item]})
    assert added.status_code == 409


def test_imports_skip_what_the_dataset_holds_unless_told_not_to(admin: httpx.Client, db: Session) -> None:
    dataset = create(admin)
    rows = [{"prompt": f"p{i}", "chosen": f"c{i}", "rejected": f"r{i}"} for i in range(4)]
    first = import_rows(admin, dataset["id"], [*rows, rows[0]]).json()
    assert (first["comparisons"], first["preferences"], first["skipped"]) == (4, 4, 1)
    # The same pairs again, chosen and rejected swapped: the same comparisons.
    swapped = [{"prompt": r["prompt"], "chosen": r["rejected"], "rejected": r["chosen"]} for r in rows]
    again = import_rows(admin, dataset["id"], swapped).json()
    assert (again["comparisons"], again["preferences"], again["skipped"]) == (0, 0, 4)
    kept = import_rows(admin, dataset["id"], rows[:2], dedupe="false").json()
    assert (kept["comparisons"], kept["skipped"]) == (2, 0)
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").json()["comparisons"] == 6

    prompts = create(admin, "prompt")
    prompt_rows = [{"prompt": [USER]}, {"prompt": [USER], "reference": "Blue."}, {"prompt": [USER]}]
    stored = import_rows(admin, prompts["id"], prompt_rows, with_preferences="false").json()
    assert (stored["examples"], stored["skipped"]) == (2, 1)
    twice = import_rows(admin, prompts["id"], prompt_rows, with_preferences="false").json()
    assert (twice["examples"], twice["skipped"]) == (0, 3)


def test_create_and_import_is_one_transaction(admin: httpx.Client) -> None:
    name = unique("created")
    rows = [
        {"prompt": [USER], "completion": assistant("Blue.")},
        {"prompt": "p", "chosen": "a", "rejected": "b"},
    ]
    failed = admin.post(
        "/api/v1/datasets/import", params={"name": name, "format": "trl"}, content=jsonl(rows)
    )
    assert failed.status_code == 422 and "line 2" in failed.json()["detail"]
    assert name not in {d["name"] for d in admin.get("/api/v1/datasets").json()["data"]}

    made = admin.post(
        "/api/v1/datasets/import", params={"name": name, "format": "trl"}, content=jsonl(rows[:1])
    )
    assert made.status_code == 201, made.text
    dataset = admin.get(f"/api/v1/datasets/{made.json()['dataset_id']}").json()
    assert (dataset["name"], dataset["kind"], dataset["examples"]) == (name, "demonstration", 1)
    taken = admin.post(
        "/api/v1/datasets/import", params={"name": name, "format": "trl"}, content=jsonl(rows[:1])
    )
    assert taken.status_code == 409
