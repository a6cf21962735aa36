"""The request metrics (services/core/http_metrics.py) keep one time series per method, route and status:
the series the middleware finds once are the ones Prometheus exports, each request counted and timed in its
own."""

from __future__ import annotations

from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from services.core.http_metrics import RequestMetricsMiddleware

SERVICE = "http-metrics-test"


def echo_status(request: Request) -> PlainTextResponse:
    return PlainTextResponse("", status_code=int(request.path_params["code"]))


def requests_counted(method: str, route: str, status: int) -> float:
    labels = {"service": SERVICE, "method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("rlhf_http_requests_total", labels) or 0.0


def requests_timed(method: str, route: str) -> float:
    labels = {"service": SERVICE, "method": method, "route": route}
    return REGISTRY.get_sample_value("rlhf_http_request_duration_seconds_count", labels) or 0.0


def test_each_method_route_and_status_is_counted_in_its_own_series() -> None:
    app = Starlette(routes=[Route("/status/{code:int}", echo_status, methods=["GET", "POST"])])
    app.add_middleware(RequestMetricsMiddleware, service=SERVICE)
    template = "/status/{code:int}"
    calls = [("GET", 200), ("GET", 404), ("GET", 200), ("POST", 200), ("GET", 503), ("POST", 200)]
    before = {(m, s): requests_counted(m, template, s) for m, s in set(calls)}
    timed_before = {m: requests_timed(m, template) for m in ("GET", "POST")}
    unmatched_before = requests_counted("GET", "unmatched", 404)

    with TestClient(app) as client:
        for method, status in calls:
            assert client.request(method, f"/status/{status}").status_code == status
        assert client.get("/nowhere").status_code == 404

    for method, status in set(calls):
        assert requests_counted(method, template, status) == before[method, status] + calls.count(
            (method, status)
        )
    assert requests_timed("GET", template) == timed_before["GET"] + 4
    assert requests_timed("POST", template) == timed_before["POST"] + 2
    assert requests_counted("GET", "unmatched", 404) == unmatched_before + 1
