"""Every kind of bad input gets its 4xx with a clear detail, and the database is left exactly as it was."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.helpers.collector import comparison_items, table_counts

BIG = "€" * 34_000  # 102,000 UTF-8 bytes in 34,000 characters: the limit counts bytes


@dataclass
class Case:
    who: str  # admin or annotator
    method: str
    path: str  # {dataset} and {comparison} are filled in
    status: int
    json: Any = None
    content: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def items(n: int, **override: Any) -> dict[str, Any]:
    listed = comparison_items(n)
    listed[-1] |= override
    return {"items": listed}


def trl(*lines: Any) -> bytes:
    return "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode()


GOOD_TRL = {"prompt": "p", "chosen": "c", "rejected": "r"}

CASES = {
    # datasets
    "dataset empty name": Case("admin", "POST", "/datasets", 422, json={"name": ""}),
    "dataset blank name": Case("admin", "POST", "/datasets", 422, json={"name": "   "}),
    "dataset name wrong type": Case("admin", "POST", "/datasets", 422, json={"name": 5}),
    "dataset k zero": Case(
        "admin", "POST", "/datasets", 422, json={"name": "x", "annotations_per_comparison": 0}
    ),
    "dataset k too big": Case(
        "admin", "POST", "/datasets", 422, json={"name": "x", "annotations_per_comparison": 101}
    ),
    "dataset unknown field": Case("admin", "POST", "/datasets", 422, json={"name": "x", "annotations": 2}),
    "dataset malformed json": Case("admin", "POST", "/datasets", 422, content=b'{"name": "x"'),
    "dataset guidelines too big": Case(
        "admin", "POST", "/datasets", 413, json={"name": "x", "guidelines": BIG}
    ),
    "dataset name taken": Case("admin", "POST", "/datasets", 409, json={"name": "{dataset_name}"}),
    "dataset unknown": Case("admin", "GET", "/datasets/999999999", 404),
    "dataset id not a number": Case("admin", "GET", "/datasets/abc", 422),
    "dataset id past bigint": Case("admin", "GET", f"/datasets/{2**64}", 422),
    # comparisons
    "comparisons over 1000": Case("admin", "POST", "/datasets/{dataset}/comparisons", 413, json=items(1001)),
    "comparisons empty": Case("admin", "POST", "/datasets/{dataset}/comparisons", 422, json={"items": []}),
    "comparison text too big": Case(
        "admin", "POST", "/datasets/{dataset}/comparisons", 413, json=items(3, response_b=BIG)
    ),
    "comparison NUL": Case(
        "admin", "POST", "/datasets/{dataset}/comparisons", 422, json=items(2, prompt="a\x00b")
    ),
    "comparison field missing": Case(
        "admin",
        "POST",
        "/datasets/{dataset}/comparisons",
        422,
        json={"items": [{"prompt": "p", "response_a": "a"}]},
    ),
    "comparison wrong type": Case(
        "admin", "POST", "/datasets/{dataset}/comparisons", 422, json=items(2, response_a=5)
    ),
    "comparison metadata not object": Case(
        "admin", "POST", "/datasets/{dataset}/comparisons", 422, json=items(2, metadata=[1])
    ),
    "comparison metadata NaN": Case(
        "admin",
        "POST",
        "/datasets/{dataset}/comparisons",
        422,
        content=b'{"items": [{"prompt": "p", "response_a": "a", "response_b": "b", "metadata": {"x": NaN}}]}',
    ),
    "comparison lone surrogate": Case(
        "admin",
        "POST",
        "/datasets/{dataset}/comparisons",
        422,
        content=b'{"items": [{"prompt": "\\ud800", "response_a": "a", "response_b": "b"}]}',
    ),
    "comparison metadata NUL": Case(
        "admin", "POST", "/datasets/{dataset}/comparisons", 422, json=items(1, metadata={"k": "\x00"})
    ),
    "comparisons unknown dataset": Case(
        "admin", "POST", "/datasets/999999999/comparisons", 404, json=items(1)
    ),
    "comparisons malformed json": Case(
        "admin", "POST", "/datasets/{dataset}/comparisons", 422, content=b"[[["
    ),
    # imports
    "import malformed line": Case(
        "admin",
        "POST",
        "/datasets/{dataset}/import",
        422,
        params={"format": "trl"},
        content=trl(GOOD_TRL, GOOD_TRL, "{oops"),
    ),
    "import missing field": Case(
        "admin",
        "POST",
        "/datasets/{dataset}/import",
        422,
        params={"format": "trl"},
        content=trl(GOOD_TRL, {"prompt": "p", "chosen": "c"}),
    ),
    "import field wrong type": Case(
        "admin",
        "POST",
        "/datasets/{dataset}/import",
        422,
        params={"format": "trl"},
        content=trl({"prompt": "p", "chosen": ["c"], "rejected": "r"}),
    ),
    "import line not object": Case(
        "admin", "POST", "/datasets/{dataset}/import", 422, params={"format": "trl"}, content=trl([1, 2])
    ),
    "import text too big": Case(
        "admin",
        "POST",
        "/datasets/{dataset}/import",
        413,
        params={"format": "trl"},
        content=trl(GOOD_TRL, GOOD_TRL | {"chosen": BIG}),
    ),
    "import hh without assistant": Case(
        "admin",
        "POST",
        "/datasets/{dataset}/import",
        422,
        params={"format": "hh"},
        content=trl({"chosen": "\n\nHuman: hi", "rejected": "\n\nHuman: hi\n\nAssistant: no"}),
    ),
    "import oasst bad tree": Case(
        "admin",
        "POST",
        "/datasets/{dataset}/import",
        422,
        params={"format": "oasst"},
        content=trl({"prompt": {"text": "hi", "role": "robot"}}),
    ),
    "import invalid utf8": Case(
        "admin",
        "POST",
        "/datasets/{dataset}/import",
        422,
        params={"format": "trl"},
        content=b'{"prompt": "\xff", "chosen": "c", "rejected": "r"}',
    ),
    "import lone surrogate": Case(
        "admin",
        "POST",
        "/datasets/{dataset}/import",
        422,
        params={"format": "trl"},
        content=b'{"prompt": "a\\ud800b", "chosen": "c", "rejected": "r"}',
    ),
    "import NaN rank": Case(
        "admin",
        "POST",
        "/datasets/{dataset}/import",
        422,
        params={"format": "oasst"},
        content=b'{"prompt": {"text": "hi", "role": "prompter", "replies": ['
        b'{"text": "a", "role": "assistant", "rank": NaN}, {"text": "b", "role": "assistant", "rank": 0}]}}',
    ),
    "import unknown format": Case(
        "admin", "POST", "/datasets/{dataset}/import", 422, params={"format": "csv"}, content=trl(GOOD_TRL)
    ),
    "import empty body": Case(
        "admin", "POST", "/datasets/{dataset}/import", 422, params={"format": "trl"}, content=b""
    ),
    "import unknown dataset": Case(
        "admin", "POST", "/datasets/999999999/import", 404, params={"format": "trl"}, content=trl(GOOD_TRL)
    ),
    # exports and stats
    "export unknown format": Case(
        "admin", "GET", "/datasets/{dataset}/export", 422, params={"format": "csv"}
    ),
    "export unknown dataset": Case(
        "admin", "GET", "/datasets/999999999/export", 404, params={"format": "trl"}
    ),
    "stats unknown dataset": Case("admin", "GET", "/datasets/999999999/stats", 404),
    # annotators
    "annotator empty name": Case("admin", "POST", "/annotators", 422, json={"name": ""}),
    "annotator name too long": Case("admin", "POST", "/annotators", 422, json={"name": "x" * 201}),
    "annotator expiry past": Case(
        "admin", "POST", "/annotators", 422, json={"name": "x", "expires_at": "2000-01-01T00:00:00Z"}
    ),
    "annotator expiry without zone": Case(
        "admin", "POST", "/annotators", 422, json={"name": "x", "expires_at": "2999-01-01T00:00:00"}
    ),
    "annotator expiry not a time": Case(
        "admin", "POST", "/annotators", 422, json={"name": "x", "expires_at": "soon"}
    ),
    "annotator unknown dataset": Case(
        "admin", "POST", "/annotators", 422, json={"name": "x", "datasets": ["{dataset}", 999999999]}
    ),
    "annotator dataset id zero": Case(
        "admin", "POST", "/annotators", 422, json={"name": "x", "datasets": [0]}
    ),
    "annotator dataset id past bigint": Case(
        "admin", "POST", "/annotators", 422, json={"name": "x", "datasets": [2**64]}
    ),
    "annotator datasets not a list": Case(
        "admin", "POST", "/annotators", 422, json={"name": "x", "datasets": "all"}
    ),
    "annotator unknown field": Case(
        "admin", "POST", "/annotators", 422, json={"name": "x", "role": "system"}
    ),
    "revoke unknown annotator": Case("admin", "POST", "/annotators/999999999/revoke", 404),
    "revoke built-in importer": Case("admin", "POST", "/annotators/{importer}/revoke", 404),
    "new token unknown annotator": Case("admin", "POST", "/annotators/999999999/token", 404),
    "new token expiry without zone": Case(
        "admin", "POST", "/annotators/{annotator}/token", 422, json={"expires_at": "2999-01-01T00:00:00"}
    ),
    "new token expiry past": Case(
        "admin", "POST", "/annotators/{annotator}/token", 422, json={"expires_at": "2000-01-01T00:00:00Z"}
    ),
    "assign unknown annotator": Case(
        "admin", "PUT", "/annotators/999999999/datasets", 404, json={"datasets": None}
    ),
    "assign without datasets": Case("admin", "PUT", "/annotators/{annotator}/datasets", 422, json={}),
    "assign unknown dataset": Case(
        "admin", "PUT", "/annotators/{annotator}/datasets", 422, json={"datasets": [999999999]}
    ),
    # votes
    "vote invalid choice": Case(
        "annotator", "POST", "/comparisons/{comparison}/preferences", 422, json={"choice": "c"}
    ),
    "vote strength too high": Case(
        "annotator", "POST", "/comparisons/{comparison}/preferences", 422, json={"choice": "a", "strength": 4}
    ),
    "vote strength wrong type": Case(
        "annotator",
        "POST",
        "/comparisons/{comparison}/preferences",
        422,
        json={"choice": "a", "strength": "strong"},
    ),
    "vote strength on tie": Case(
        "annotator",
        "POST",
        "/comparisons/{comparison}/preferences",
        422,
        json={"choice": "tie", "strength": 2},
    ),
    "vote both bad with a": Case(
        "annotator",
        "POST",
        "/comparisons/{comparison}/preferences",
        422,
        json={"choice": "a", "both_bad": True},
    ),
    "vote shown_left invalid": Case(
        "annotator",
        "POST",
        "/comparisons/{comparison}/preferences",
        422,
        json={"choice": "a", "shown_left": "c"},
    ),
    "vote negative time": Case(
        "annotator",
        "POST",
        "/comparisons/{comparison}/preferences",
        422,
        json={"choice": "a", "time_spent_ms": -1},
    ),
    "vote rationale too big": Case(
        "annotator",
        "POST",
        "/comparisons/{comparison}/preferences",
        413,
        json={"choice": "a", "rationale": BIG},
    ),
    "vote rationale NUL": Case(
        "annotator",
        "POST",
        "/comparisons/{comparison}/preferences",
        422,
        json={"choice": "a", "rationale": "\x00"},
    ),
    "vote unknown field": Case(
        "annotator", "POST", "/comparisons/{comparison}/preferences", 422, json={"choise": "a"}
    ),
    "vote malformed json": Case(
        "annotator", "POST", "/comparisons/{comparison}/preferences", 422, content=b'{"choice": '
    ),
    "vote body not unicode": Case(
        "annotator", "POST", "/comparisons/{comparison}/preferences", 400, content=b'{"choice": "\xff"}'
    ),
    "vote idempotency key too long": Case(
        "annotator",
        "POST",
        "/comparisons/{comparison}/preferences",
        422,
        json={"choice": "a"},
        headers={"Idempotency-Key": "k" * 201},
    ),
    "vote unknown comparison": Case(
        "annotator", "POST", "/comparisons/999999999/preferences", 404, json={"choice": "a"}
    ),
    "next unknown dataset": Case("annotator", "GET", "/datasets/999999999/next", 404),
    # jobs (the body names the dataset as {dataset})
    "job params NaN": Case(
        "admin",
        "POST",
        "/jobs",
        422,
        content=b'{"kind": "sft", "dataset_id": {dataset}, "params": {"learning_rate": NaN}}',
    ),
    "job params NUL": Case(
        "admin",
        "POST",
        "/jobs",
        422,
        content=b'{"kind": "sft", "dataset_id": {dataset}, "params": {"lr_scheduler_type": "a\\u0000b"}}',
    ),
    "job version id past bigint": Case(
        "admin",
        "POST",
        "/jobs",
        422,
        content=b'{"kind": "sft", "dataset_id": {dataset}, "params": {"policy_version_id": 1'
        + b"0" * 30
        + b"}}",
    ),
    "job param out of bounds": Case(
        "admin",
        "POST",
        "/jobs",
        422,
        content=b'{"kind": "generate_comparisons", "dataset_id": {dataset}, "params": {"max_new_tokens": 0}}',
    ),
    "next id zero": Case("annotator", "GET", "/datasets/0/next", 422),
    # values whose refusal echoed them, or that reached PostgreSQL: each was a 500 (services/core/inputs.py)
    "dataset name lone surrogate": Case("admin", "POST", "/datasets", 422, content=b'{"name": "a\\ud800b"}'),
    "annotator name lone surrogate": Case(
        "admin", "POST", "/annotators", 422, content=b'{"name": "a\\ud800b"}'
    ),
    "dataset k NaN": Case(
        "admin", "POST", "/datasets", 422, content=b'{"name": "x", "annotations_per_comparison": NaN}'
    ),
    "annotator dataset id NaN": Case(
        "admin", "POST", "/annotators", 422, content=b'{"name": "x", "datasets": [NaN]}'
    ),
    "job base_model NUL": Case(
        "admin",
        "POST",
        "/jobs",
        422,
        content=b'{"kind": "sft", "dataset_id": {dataset}, "base_model": "gpt2\\u0000"}',
    ),
    "job params lone surrogate": Case(
        "admin",
        "POST",
        "/jobs",
        422,
        content=b'{"kind": "sft", "dataset_id": {dataset}, "params": {"lr_scheduler_type": "\\udc00"}}',
    ),
    "job params Infinity": Case(
        "admin",
        "POST",
        "/jobs",
        422,
        content=b'{"kind": "sft", "dataset_id": {dataset}, "params": {"learning_rate": -Infinity}}',
    ),
    "job reward weights NaN": Case(
        "admin",
        "POST",
        "/jobs",
        422,
        content=b'{"kind": "rloo", "dataset_id": {dataset}, "params": {"reward_weights": [1.0, NaN]}}',
    ),
    "job target dataset past bigint": Case(
        "admin",
        "POST",
        "/jobs",
        422,
        content=b'{"kind": "generate_comparisons", "dataset_id": {dataset}, "params": {"target_dataset_id": 1'
        + b"0" * 30
        + b"}}",
    ),
    "jobs offset past bigint": Case("admin", "GET", "/jobs", 422, params={"offset": "1" + "0" * 30}),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_and_stores_nothing(
    case: Case, make_dataset: Callable, make_annotator: Callable, admin: httpx.Client, db: Session
) -> None:
    dataset = make_dataset(1, k=2)
    person = make_annotator()
    client = admin if case.who == "admin" else person
    importer = db.execute(text("SELECT id FROM annotator WHERE role = 'system'")).scalar_one()
    fill = {
        "dataset": dataset["id"],
        "comparison": dataset["ids"][0],
        "dataset_name": dataset["name"],
        "annotator": person.annotator["id"],
        "importer": importer,
    }
    body = (
        json.loads(
            json.dumps(case.json)
            .replace("{dataset_name}", dataset["name"])
            .replace('"{dataset}"', str(dataset["id"]))
        )
        if case.json is not None
        else None
    )
    before = table_counts(db)
    response = client.request(
        case.method,
        "/api/v1" + case.path.format(**fill),
        json=body,
        content=case.content.replace(b"{dataset}", str(dataset["id"]).encode()) if case.content else None,
        params=case.params,
        headers=case.headers | ({"Content-Type": "application/json"} if case.content is not None else {}),
    )
    assert response.status_code == case.status, response.text
    assert response.json()["detail"]
    assert table_counts(db) == before
