"""A plain route (services/collector/plain_routes.py) answers and is documented exactly as the FastAPI path
operation it stands in for: the vote route's inputs (`VoteInputs`) served both ways, the same requests get the
same status and body, and the OpenAPI schema describes both alike."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from services.collector import plain_routes
from services.collector.errors import install_error_handlers
from services.collector.params import IdPath
from services.collector.plain_routes import PlainRoute, json_response
from services.collector.schemas import PreferenceCreate, VoteInputs
from services.core.http_metrics import RequestMetricsMiddleware
from services.domain.votes import MAX_IDEMPOTENCY_KEY


def authorize(request: Request) -> None:
    if request.headers.get("x-caller") == "stranger":
        raise HTTPException(403, "this endpoint needs an annotator token")


async def vote(request: Request, caller: None, inputs: VoteInputs) -> Response:
    """Echo what was read."""
    echo = inputs.body.model_copy(update={"time_spent_ms": inputs.path.comparison_id})
    return json_response(echo, 201)


def plain_app() -> FastAPI:
    route = PlainRoute(
        "",
        "/c/{comparison_id}",
        vote,
        method="POST",
        authorize=authorize,
        inputs=VoteInputs,
        response=PreferenceCreate,
        status_code=201,
    )
    app = FastAPI(routes=[route])
    install_error_handlers(app)
    return app


def fastapi_app() -> FastAPI:
    """The vote route as a FastAPI path operation: its declaration before it became a plain route, with the
    description the header has gained."""
    app = FastAPI()

    @app.post("/c/{comparison_id}", status_code=201, response_model=PreferenceCreate)
    async def vote(
        comparison_id: IdPath,
        body: PreferenceCreate,
        _: Annotated[None, Depends(authorize)],
        idempotency_key: Annotated[
            str | None,
            Header(
                max_length=MAX_IDEMPOTENCY_KEY,
                description="a retry with the same key returns the first answer and stores nothing more",
            ),
        ] = None,
    ) -> PreferenceCreate:
        """Echo what was read."""
        return body.model_copy(update={"time_spent_ms": comparison_id})

    install_error_handlers(app)
    return app


JSON = {"Content-Type": "application/json"}
STRANGER = {**JSON, "X-Caller": "stranger"}
LONG_KEY = {**JSON, "Idempotency-Key": "k" * (MAX_IDEMPOTENCY_KEY + 1)}
CASES: dict[str, tuple[str, str, bytes, dict[str, str]]] = {
    "valid": ("POST", "/c/7", b'{"choice": "a", "strength": 2}', JSON),
    "valid with a key": ("POST", "/c/7", b'{"choice": "a"}', {**JSON, "Idempotency-Key": "k1"}),
    "id not a number": ("POST", "/c/x", b'{"choice": "a"}', JSON),
    "id zero": ("POST", "/c/0", b'{"choice": "a"}', JSON),
    "id past a bigint": ("POST", f"/c/{2**63}", b'{"choice": "a"}', JSON),
    "malformed JSON": ("POST", "/c/7", b'{"choice": ', JSON),
    "not UTF-8": ("POST", "/c/7", b'{"choice": "\xff"}', JSON),
    "no body": ("POST", "/c/7", b"", JSON),
    "not JSON content type": ("POST", "/c/7", b'{"choice": "a"}', {"Content-Type": "text/plain"}),
    "no content type": ("POST", "/c/7", b'{"choice": "a"}', {}),
    "JSON suffix content type": ("POST", "/c/7", b'{"choice": "b"}', {"Content-Type": "application/x+json"}),
    "odd JSON-like content type": (
        "POST",
        "/c/7",
        b'{"choice": "b"}',
        {"Content-Type": "application/a/b+json"},
    ),
    "unknown choice": ("POST", "/c/7", b'{"choice": "c"}', JSON),
    "unknown field": ("POST", "/c/7", b'{"choise": "a"}', JSON),
    "NUL in text": ("POST", "/c/7", b'{"choice": "a", "rationale": "\\u0000"}', JSON),
    "NaN": ("POST", "/c/7", b'{"choice": "a", "time_spent_ms": NaN}', JSON),
    "body not an object": ("POST", "/c/7", b"[1]", JSON),
    "key too long": ("POST", "/c/7", b'{"choice": "a"}', LONG_KEY),
    # Several errors at once: one 422 listing them in FastAPI's order (path, header, body).
    "bad id and bad body": ("POST", "/c/x", b'{"choice": "c"}', JSON),
    "bad key and bad body": ("POST", "/c/7", b'{"choice": "c", "strength": 9}', LONG_KEY),
    "bad id and bad key": ("POST", "/c/0", b'{"choice": "a"}', LONG_KEY),
    "bad id and malformed JSON": ("POST", "/c/x", b"{", JSON),
    # The caller is refused after the body is decoded and before anything is validated.
    "stranger": ("POST", "/c/7", b'{"choice": "a"}', STRANGER),
    "stranger with malformed JSON": ("POST", "/c/7", b"{", STRANGER),
    "stranger with a bad id": ("POST", "/c/x", b'{"choice": "c"}', STRANGER),
    "wrong method": ("PUT", "/c/7", b'{"choice": "a"}', JSON),
    "HEAD": ("HEAD", "/c/7", b"", {}),
    "GET": ("GET", "/c/7", b"", {}),
}


@pytest.mark.parametrize("case", CASES)
def test_a_plain_route_answers_as_fastapi_would(case: str) -> None:
    method, path, content, headers = CASES[case]
    answers = [
        TestClient(app).request(method, path, content=content, headers=headers)
        for app in (plain_app(), fastapi_app())
    ]
    assert answers[0].status_code == answers[1].status_code, case
    assert answers[0].headers.get("allow") == answers[1].headers.get("allow"), case
    assert answers[0].content == answers[1].content, case


def test_a_plain_route_is_documented_as_fastapi_documents_its_twin() -> None:
    plain, twin = plain_app(), fastapi_app()
    plain_schema = plain_routes.document(plain.openapi(), plain.routes)
    fastapi_schema = twin.openapi()
    documented = plain_schema["paths"]["/c/{comparison_id}"]["post"]
    expected = fastapi_schema["paths"]["/c/{comparison_id}"]["post"]
    # The bearer scheme: FastAPI declares it only where a route asks for the header (the collector's do).
    assert documented.pop("security") == [{"HTTPBearer": []}]
    assert documented == expected
    assert plain_schema["components"] == fastapi_schema["components"]


def test_a_plain_route_is_labelled_by_its_template_in_the_request_metrics() -> None:
    app = plain_app()
    app.add_middleware(RequestMetricsMiddleware, service="plain-routes-test")
    labels = {
        "service": "plain-routes-test",
        "method": "POST",
        "route": "/c/{comparison_id}",
        "status": "201",
    }
    before = REGISTRY.get_sample_value("rlhf_http_requests_total", labels) or 0.0
    TestClient(app).post("/c/7", content=b'{"choice": "a"}', headers=JSON)
    assert REGISTRY.get_sample_value("rlhf_http_requests_total", labels) == before + 1
