"""Helpers for tests against the inference service: waiting for a version to serve, reading an SSE answer,
clients posting in a loop while a version is promoted."""

from __future__ import annotations

import asyncio
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


CLIENTS = 6


async def hammer(
    url: str, path: str, body: dict[str, Any], *, switch: Callable[[], None], new_name: str
) -> list[list[tuple[int, str, Any]]]:
    """CLIENTS clients post in a loop; `switch` runs once every client has answers; each client stops
    a few answers after it first sees `new_name`. Returns per client: (status, version, body) in order."""
    logs: list[list[tuple[int, str, Any]]] = [[] for _ in range(CLIENTS)]
    warmed = asyncio.Event()
    switched = asyncio.Event()

    async def client_loop(client: httpx.AsyncClient, log: list[tuple[int, str, Any]]) -> None:
        after_switch = 0
        while after_switch < 5:
            response = await client.post(path, json=body)
            version = response.headers.get("x-model-version", "")
            log.append((response.status_code, version, response.json()))
            if all(len(entry) >= 3 for entry in logs):
                warmed.set()
            if switched.is_set() and version == new_name:
                after_switch += 1

    async def switcher() -> None:
        await warmed.wait()
        await asyncio.to_thread(switch)
        switched.set()

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await asyncio.wait_for(
            asyncio.gather(switcher(), *(client_loop(client, log) for log in logs)), timeout=120
        )
    return logs


def assert_switched_cleanly(logs: list[list[tuple[int, str, Any]]], old: str, new: str) -> None:
    for log in logs:
        assert [status for status, _, _ in log] == [200] * len(log)  # zero failures
        versions = [version for _, version, _ in log]
        assert set(versions) <= {old, new}
        # Each client sees the old version, then only the new one: the switch happens once.
        first_new = versions.index(new)
        assert versions[:first_new] == [old] * first_new
        assert versions[first_new:] == [new] * (len(versions) - first_new)
    assert any(log[0][1] == old for log in logs)
