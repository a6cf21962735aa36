"""The request metrics of both HTTP services (collector and inference): Prometheus, served at /metrics.

They are the services' observability; FastAPI's native OpenTelemetry (since 0.165) is off
(`NO_OPENTELEMETRY`): with no provider configured it still asked for one on every request, ~20 µs a request in
an in-process A/B on the vote route, a tenth of what the collector's code costs it beyond its SQL.
"""

from __future__ import annotations

import time

from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("rlhf_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram(
    "rlhf_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
NO_OPENTELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


class RequestMetricsMiddleware:
    """Counts requests and times them, labelled by route template (not raw path: ids would explode)."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service
        # Each (method, route, status)'s time series, found once: the client's `labels` lookup takes a lock
        # and rebuilds its key on every call. Bounded as the labels are: routes are templates.
        self._series: dict[tuple[str, str, int], tuple[Histogram, Counter]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            method = scope["method"]
            template = getattr(scope.get("route"), "path", "unmatched")
            series = self._series.get((method, template, status))
            if series is None:
                series = self._series[method, template, status] = (
                    LATENCY.labels(self.service, method, template),
                    REQUESTS.labels(self.service, method, template, str(status)),
                )
            latency, count = series
            latency.observe(time.perf_counter() - started)
            count.inc()


def metrics_response(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
