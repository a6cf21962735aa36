"""Every field of every collector route, fed a lone surrogate, a NUL, 10^30 or NaN (tests/helpers/openapi_fuzz.py):
never a 5xx, never a written row."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy.orm import Session

from services.collector.app import API_PREFIX, app
from services.collector.plain_routes import PlainRoute
from services.collector.routes import annotation
from tests.helpers.collector import table_counts
from tests.helpers.openapi_fuzz import fuzz_requests

# The annotator's endpoints; every other route takes the admin token.
ANNOTATOR_PATHS = {
    (route.method, route.path_format)
    for route in annotation.routes(API_PREFIX)
    if isinstance(route, PlainRoute)
}


def test_hostile_values_in_any_field_answer_4xx_and_write_nothing(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client, db: Session
) -> None:
    dataset = make_dataset(2)
    person = make_annotator()
    known = {
        "dataset_id": dataset["id"],
        "datasets": [dataset["id"]],
        "comparison_id": dataset["ids"][0],
        "annotator_id": person.annotator["id"],
        "kind": "sft",
    }
    failures = []
    for case in fuzz_requests(app.openapi(), known):
        client = person if (case.method, case.path) in ANNOTATOR_PATHS else admin
        before = table_counts(db)
        try:
            response = client.request(
                case.method, case.url, content=case.content, headers={"Content-Type": "application/json"}
            )
        except httpx.TransportError as exc:  # a server that drops the connection answers nothing at all
            failures.append(f"{case.name}: {type(exc).__name__}: {exc}")
            continue
        after = table_counts(db)
        if response.status_code >= 500 or after != before:
            failures.append(f"{case.name}: {response.status_code} {response.text[:200]!r}")
        elif response.status_code < 400 and case.method != "GET":
            failures.append(f"{case.name}: accepted ({response.status_code})")
    assert not failures, "\n".join(failures)
