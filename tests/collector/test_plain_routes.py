"""A plain route (services/collector/plain_routes.py) refuses and is documented exactly as the FastAPI path
operation it stands in for: the same bad requests get the same status and body from both, and the OpenAPI
schema describes both alike."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Header, Request, Response
from fastapi.testclient import TestClient

from services.collector import plain_routes
from services.collector.errors import install_error_handlers
from services.collector.params import IdPath
from services.collector.plain_routes import HeaderParam, PlainRoute, json_body, json_response, path_id
from services.collector.schemas import PreferenceCreate

KEY = HeaderParam("Idempotency-Key", max_length=8, description="a key")


async def plain(request: Request) -> Response:
    """Echo what was read."""
    comparison_id = path_id(request, "comparison_id")
    body = await json_body(request, PreferenceCreate)
    KEY.read(request)
    return json_response(body.model_copy(update={"time_spent_ms": comparison_id}), 201)


def _apps() -> tuple[TestClient, TestClient, FastAPI, FastAPI]:
    plain_app = FastAPI(
        routes=[
            PlainRoute(
                "/c/{comparison_id}",
                plain,
                method="POST",
                response=PreferenceCreate,
                status_code=201,
                body=PreferenceCreate,
                headers=[KEY],
            )
        ]
    )
    fastapi_app = FastAPI()

    @fastapi_app.post("/c/{comparison_id}", status_code=201, response_model=PreferenceCreate)
    async def echo(
        comparison_id: IdPath,
        body: PreferenceCreate,
        idempotency_key: Annotated[str | None, Header(max_length=8, description="a key")] = None,
    ) -> PreferenceCreate:
        return body.model_copy(update={"time_spent_ms": comparison_id})

    for app in (plain_app, fastapi_app):
        install_error_handlers(app)
    return TestClient(plain_app), TestClient(fastapi_app), plain_app, fastapi_app


JSON = {"Content-Type": "application/json"}
CASES: dict[str, dict[str, Any]] = {
    "valid": {"path": "/c/7", "content": b'{"choice": "a", "strength": 2}', "headers": JSON},
    "id not a number": {"path": "/c/x", "content": b'{"choice": "a"}', "headers": JSON},
    "id zero": {"path": "/c/0", "content": b'{"choice": "a"}', "headers": JSON},
    "id past a bigint": {"path": f"/c/{2**63}", "content": b'{"choice": "a"}', "headers": JSON},
    "malformed JSON": {"path": "/c/7", "content": b'{"choice": ', "headers": JSON},
    "no body": {"path": "/c/7", "content": b"", "headers": JSON},
    "not JSON content type": {
        "path": "/c/7",
        "content": b'{"choice": "a"}',
        "headers": {"Content-Type": "text/plain"},
    },
    "JSON suffix content type": {
        "path": "/c/7",
        "content": b'{"choice": "b"}',
        "headers": {"Content-Type": "application/vnd.x+json; charset=utf-8"},
    },
    "unknown choice": {"path": "/c/7", "content": b'{"choice": "c"}', "headers": JSON},
    "unknown field": {"path": "/c/7", "content": b'{"choise": "a"}', "headers": JSON},
    "NUL in text": {"path": "/c/7", "content": b'{"choice": "a", "rationale": "\\u0000"}', "headers": JSON},
    "NaN": {"path": "/c/7", "content": b'{"choice": "a", "time_spent_ms": NaN}', "headers": JSON},
    "body not an object": {"path": "/c/7", "content": b"[1]", "headers": JSON},
    "header too long": {
        "path": "/c/7",
        "content": b'{"choice": "a"}',
        "headers": {**JSON, "Idempotency-Key": "k" * 9},
    },
}


@pytest.mark.parametrize("case", CASES)
def test_a_plain_route_answers_as_fastapi_would(case: str) -> None:
    plain_client, fastapi_client, _, _ = _apps()
    request = CASES[case]
    answers = [
        client.post(request["path"], content=request["content"], headers=request["headers"])
        for client in (plain_client, fastapi_client)
    ]
    assert answers[0].status_code == answers[1].status_code, case
    assert answers[0].json() == answers[1].json(), case


def test_a_plain_route_is_documented_as_fastapi_documents_its_twin() -> None:
    _, _, plain_app, fastapi_app = _apps()
    plain_schema = plain_app.openapi()
    plain_routes.document(plain_schema, plain_app.routes)
    fastapi_schema = fastapi_app.openapi()
    documented = plain_schema["paths"]["/c/{comparison_id}"]["post"]
    expected = fastapi_schema["paths"]["/c/{comparison_id}"]["post"]
    # Only the names differ (the endpoints' own), and FastAPI puts the bearer scheme only where a route asks.
    for operation in (documented, expected):
        for key in ("summary", "operationId", "description", "security", "tags"):
            operation.pop(key, None)
    assert documented == expected
    # FastAPI's schema passes through its OpenAPI models, which write numbers as floats and drop null defaults.
    assert _loose(plain_schema["components"]["schemas"]["PreferenceCreate"]) == _loose(
        fastapi_schema["components"]["schemas"]["PreferenceCreate"]
    )


def _loose(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            key: _loose(value) for key, value in schema.items() if not (key == "default" and value is None)
        }
    if isinstance(schema, list):
        return [_loose(item) for item in schema]
    if isinstance(schema, int) and not isinstance(schema, bool):
        return float(schema)
    return schema
