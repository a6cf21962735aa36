"""Helpers for tests against the inference service: waiting for a version to serve, reading an SSE answer."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx


def wait_for(condition: Callable[[], Any], *, timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def serving(client: httpx.Client, kind: str) -> str | None:
    loaded = client.get("/info").raise_for_status().json()[kind]
    return loaded["name"] if loaded else None


def wait_serving(client: httpx.Client, kind: str, name: str | None) -> None:
    wait_for(lambda: serving(client, kind) == name, what=f"{kind} model {name} serving")


def sse_events(client: httpx.Client, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """POST and read a Server-Sent Events answer: the JSON payload of each `data:` line."""
    events = []
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[len("data:") :]))
    return events
