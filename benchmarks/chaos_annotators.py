"""Simulated annotators for the chaos benchmark: each loops `next` → think → vote over HTTP and retries the way
the web form does (annotation_ui/api.js): network errors, timeouts, 408, 429 and 5xx are tried again with a
capped, jittered exponential backoff — or after the server's Retry-After when it sends one — and a vote keeps
its Idempotency-Key on every retry. Every acknowledged vote (201/200) is kept for the read-back."""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

REQUEST_TIMEOUT_SECONDS = 10.0
CHOICES = ("a", "b", "tie")
CHOICE_WEIGHTS = (0.45, 0.45, 0.10)


@dataclass(frozen=True)
class Ack:
    annotator_id: int
    comparison_id: int
    key: str
    preference_id: int
    at: float  # time.monotonic() when the answer came


@dataclass
class Tally:
    acks: list[Ack] = field(default_factory=list)
    conflicts: int = 0  # 409: the vote was refused (e.g. a lease lost to expiry), nothing stored
    refused: Counter[int] = field(default_factory=Counter)  # other final 4xx answers, by status
    retries: Counter[str] = field(default_factory=Counter)  # by reason: a status code or an exception
    unacknowledged: int = 0  # votes still retrying when the drain time ran out
    no_work: int = 0  # 204 from next


def is_transient(status: int) -> bool:
    return status in (408, 429) or status >= 500


def backoff_seconds(attempt: int, rng: random.Random) -> float:
    """The web form's backoff: 1, 2, 4, 8, 15, 15 ... s, each ±20 %."""
    return min(15.0, 2.0 ** (attempt - 1)) * (0.8 + rng.random() * 0.4)


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


@dataclass
class Annotator:
    id: int
    token: str
    rng: random.Random
    tally: Tally
    think_seconds: tuple[float, float]

    async def send(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        *,
        until: Callable[[], bool],
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response | None:
        """One request, retried while it fails transiently and `until()` is false; None if it never got through."""
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                response = await client.request(method, path, json=json, headers=headers)
                if not is_transient(response.status_code):
                    return response
                reason = str(response.status_code)
                wait = retry_after_seconds(response)
            except httpx.TransportError as error:  # refused, reset, timed out
                reason = type(error).__name__
            if until():
                return None
            self.tally.retries[reason] += 1
            await asyncio.sleep(wait if wait is not None else backoff_seconds(attempt, self.rng))

    async def run(self, base_url: str, dataset_id: int, session: Session) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS
        ) as client:
            while not session.stopping():
                offer = await self.send(
                    client, "GET", f"/api/v1/datasets/{dataset_id}/next", until=session.stopping
                )
                if offer is None:
                    return
                if offer.status_code == 204:
                    self.tally.no_work += 1
                    await asyncio.sleep(1.0)
                    continue
                if offer.status_code != 200:
                    self.tally.refused[offer.status_code] += 1
                    await asyncio.sleep(1.0)
                    continue
                comparison_id = int(offer.json()["comparison_id"])
                await asyncio.sleep(self.rng.uniform(*self.think_seconds))
                await self.vote(client, comparison_id, session)

    async def vote(self, client: httpx.AsyncClient, comparison_id: int, session: Session) -> None:
        key = str(uuid.uuid4())  # one per judgement, the same on every retry
        choice = self.rng.choices(CHOICES, CHOICE_WEIGHTS)[0]
        answer = await self.send(
            client,
            "POST",
            f"/api/v1/comparisons/{comparison_id}/preferences",
            json={"choice": choice, "time_spent_ms": 1000},
            headers={"Idempotency-Key": key},
            until=session.drained,
        )
        if answer is None:
            self.tally.unacknowledged += 1
        elif answer.status_code in (200, 201):
            stored = answer.json()
            self.tally.acks.append(Ack(self.id, comparison_id, key, int(stored["id"]), time.monotonic()))
        elif answer.status_code == 409:
            self.tally.conflicts += 1
        else:
            self.tally.refused[answer.status_code] += 1


@dataclass
class Session:
    """When the annotators stop asking for work (`stop`), and how long a vote under way may still retry."""

    drain_seconds: float
    stop_at: float | None = None

    def stop(self) -> None:
        self.stop_at = time.monotonic()

    def stopping(self) -> bool:
        return self.stop_at is not None

    def drained(self) -> bool:
        return self.stop_at is not None and time.monotonic() > self.stop_at + self.drain_seconds


async def run_annotators(
    base_url: str, dataset_id: int, annotators: list[Annotator], session: Session
) -> None:
    await asyncio.gather(*(annotator.run(base_url, dataset_id, session) for annotator in annotators))
