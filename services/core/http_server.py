"""How both HTTP services run under uvicorn: its timeouts, and one it lacks.

uvicorn (0.54, uvicorn/protocols/http/httptools_impl.py) times a connection out only while it is idle after an
answer (`timeout_keep_alive`, armed in on_response_complete and cancelled by any byte received): a client that
connects and never finishes its headers, or sends them a byte at a time, holds its connection forever. The
protocol here gives every request `header_timeout_seconds` from the connection's start, or from the previous
answer, to complete its headers. Bodies are timed by the request guard (services/core/guard.py).
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.core.settings import get_settings

PROTOCOL = "services.core.http_server:HeaderTimeoutProtocol"
# New container objects between two young-generation collections (CPython's default: 700).
YOUNG_GENERATION_THRESHOLD = 10_000


class HeaderTimeoutProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = get_settings().header_timeout_seconds
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request's headers are due; unless a pipelined one, whose headers came already, now runs.
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_timed_out)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_options() -> dict[str, Any]:
    """The options `rlhf serve` gives uvicorn.run for either service."""
    settings = get_settings()
    return {"http": PROTOCOL, "timeout_keep_alive": settings.keep_alive_seconds, "access_log": False}


def tune_garbage_collector() -> None:
    """The garbage collector for a service under load, once start-up is done. Start-up's heap (imported
    modules, routes, schemas, settings) is frozen out of the full collections, which otherwise scan all of it
    again and again: in the collector under 32 annotators, two thirds of the GC's time, ~5 % of its CPU per
    vote (benchmarks/collector_load.py); after a collection, so that no start-up garbage is kept for good. And
    the young generation is collected about fourteen times less often than CPython's default (after 10,000
    new objects, not 700): each collection scans the objects of every request in flight, and one ran every
    few requests; 2–4 % of the collector's CPU per vote (in-process A/Bs of the vote path). The price: garbage
    caught in a reference cycle lives a little longer. Not in the inference service: the freeze measured no
    gain there, and a model it swaps out must stay collectable."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)
