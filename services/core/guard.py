"""The refusals both HTTP services make before a route runs: too many requests at once (503), a bearer token
that is missing or unknown (401), a body larger than the route's limit (413) or slower than its timeout (408).

A pure ASGI middleware (BaseHTTPMiddleware would buffer bodies and run the app in another task). It checks the
token before the first byte of the body is read, so that an unauthenticated client cannot make the service
parse, or even receive, a large body; it checks `Content-Length` up front and counts the bytes of a chunked
body as they arrive, cutting it off at the limit. FastAPI's own `max_body_size` is not used: it knows a
route's limit only after routing, after the token check, and answers plain text when a route does not read
its body; these refusals must come in each route family's JSON shape.

Each service supplies what differs: which paths need which credential (`authenticate`), each path's body
limits (`limits`) and its error shape (`render`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.settings import get_settings

# The request state key where `authenticate` leaves who the caller is, for the routes' authorization.
PRINCIPAL = "principal"
# The paths a busy service still answers: health checks must not fail because the service is busy.
UNLIMITED_PATHS = frozenset({"/health"})
RETRY_AFTER_SECONDS = 1
CONNECTION_CLOSE = (b"connection", b"close")


@dataclass(frozen=True)
class Refusal:
    """An answer given before the route runs (a 401 or 403 of `authenticate`)."""

    status: int
    detail: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BodyLimits:
    max_bytes: int
    timeout_seconds: float


Authenticate = Callable[[Scope, str | None], Awaitable[Refusal | None]]
Render = Callable[[Scope, int, str], dict[str, Any]]


class BodyRefused(HTTPException):
    """Raised from `receive` inside a route (the body became too large or too slow). FastAPI lets an
    HTTPException raised while it reads the body through (fastapi/routing.py), so the app's own handlers
    answer it in the route family's shape."""


def bearer_token(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer ...` header; None without one."""
    value = Headers(scope=scope).get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticate: Authenticate,
        limits: Callable[[Scope], BodyLimits],
        render: Render,
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.limits = limits
        self.render = render
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= get_settings().max_concurrent_requests:
            await self._refuse(
                scope,
                send,
                Refusal(
                    503,
                    "the service is busy: too many requests at once; retry later",
                    {"Retry-After": str(RETRY_AFTER_SECONDS)},
                ),
            )
            return
        self.in_flight += 1
        try:
            await self._guarded(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = await self.authenticate(scope, bearer_token(scope))
        if refusal is not None:
            await self._refuse(scope, send, refusal)
            return
        limits = self.limits(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limits.max_bytes:
            await self._refuse(scope, send, _too_large(limits))
            return
        body = _BodyReader(receive, limits)
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if body.refused:
                    # The rest of the refused body is not wanted: no next request on this connection.
                    message = {**message, "headers": [*message.get("headers", []), CONNECTION_CLOSE]}
            await send(message)

        try:
            await self.app(scope, body.receive, send_tracking)
        except BodyRefused as refused:
            # Raised outside the app's exception handlers (a route family without them): answer it here.
            if started:
                raise
            await self._refuse(scope, send, Refusal(refused.status_code, str(refused.detail)))

    async def _refuse(self, scope: Scope, send: Send, refusal: Refusal) -> None:
        body = json.dumps(self.render(scope, refusal.status, refusal.detail)).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            # The client may still be sending a body nobody reads: this connection is not reused.
            CONNECTION_CLOSE,
            *((name.lower().encode(), value.encode()) for name, value in refusal.headers.items()),
        ]
        await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _BodyReader:
    """`receive` with the route's limits: the body's size and the time it may take to arrive."""

    def __init__(self, receive: Receive, limits: BodyLimits) -> None:
        self._receive = receive
        self._limits = limits
        self._size = 0
        self._deadline: float | None = None
        self._complete = False
        self.refused = False

    async def receive(self) -> Message:
        if self._complete:
            # After the body, `receive` only waits for the client to disconnect (streamed answers).
            return await self._receive()
        if self._deadline is None:
            self._deadline = asyncio.get_running_loop().time() + self._limits.timeout_seconds
        try:
            # asyncio.timeout_at, not wait_for: no task per chunk.
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            self.refused = True
            raise BodyRefused(
                408, f"the request body did not arrive within {self._limits.timeout_seconds:g} s"
            ) from None
        if message["type"] == "http.request":
            self._size += len(message.get("body", b""))
            if self._size > self._limits.max_bytes:
                self.refused = True
                raise BodyRefused(413, _too_large(self._limits).detail)
            self._complete = not message.get("more_body", False)
        else:
            self._complete = True
        return message


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _too_large(limits: BodyLimits) -> Refusal:
    return Refusal(413, f"the request body is larger than this route's limit of {limits.max_bytes} bytes")
