"""Simulated annotators for the chaos benchmark: each loops `next` → think → vote over HTTP and retries the way
the web form does (annotation_ui/api.js): network errors, timeouts, 408, 429 and 5xx are tried again with a
capped, jittered exponential backoff — or after the server's Retry-After when it sends one — and a vote keeps
its Idempotency-Key on every retry. Every acknowledged vote (201/200) is kept for the read-back.

One thread each, on benchmarks/annotation_load.py's keep-alive connection: the load generator shares the CPUs
with the stack it measures, so it stays cheap per call.
"""

from __future__ import annotations

import http.client
import json
import math
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.annotation_load import Http, random_vote

REQUEST_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Ack:
    annotator_id: int
    comparison_id: int
    key: str
    preference_id: int
    at: float  # time.monotonic() when the answer came


@dataclass
class Tally:
    """What the annotators were told, counted from all their threads."""

    acks: list[Ack] = field(default_factory=list)
    conflicts: int = 0  # 409: the vote was refused (e.g. a lease lost to expiry), nothing stored
    refused: Counter[int] = field(default_factory=Counter)  # other final 4xx answers, by status
    retries: Counter[str] = field(default_factory=Counter)  # by reason: a status code or an exception
    unacknowledged: int = 0  # votes still retrying when the drain time ran out
    no_work: int = 0  # 204 from next
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ack(self, ack: Ack) -> None:
        with self.lock:
            self.acks.append(ack)

    def refuse(self, status: int) -> None:
        with self.lock:
            if status == 409:
                self.conflicts += 1
            else:
                self.refused[status] += 1

    def retry(self, reason: str) -> None:
        with self.lock:
            self.retries[reason] += 1

    def give_up(self) -> None:
        with self.lock:
            self.unacknowledged += 1

    def nothing_to_do(self) -> None:
        with self.lock:
            self.no_work += 1


def is_transient(status: int) -> bool:
    return status in (408, 429) or status >= 500


def backoff_seconds(attempt: int, rng: random.Random) -> float:
    """The web form's backoff: 1, 2, 4, 8, 15, 15 ... s, each ±20 %."""
    return min(15.0, 2.0 ** (attempt - 1)) * (0.8 + rng.random() * 0.4)


def retry_after_seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


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


@dataclass
class Annotator:
    id: int
    token: str
    rng: random.Random
    tally: Tally
    think_seconds: tuple[float, float]

    def send(
        self,
        connection: Http,
        method: str,
        path: str,
        *,
        until: Callable[[], bool],
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes] | None:
        """One request, retried while it fails transiently and `until()` is false; None if it never got through."""
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                response, data = connection.exchange(method, path, body, headers)
                if not is_transient(response.status):
                    return response.status, data
                reason = str(response.status)
                wait = retry_after_seconds(response.getheader("Retry-After"))
            except (http.client.HTTPException, OSError) as error:  # refused, reset, timed out
                reason = type(error).__name__
            if until():
                return None
            self.tally.retry(reason)
            time.sleep(wait if wait is not None else backoff_seconds(attempt, self.rng))

    def run(self, base_url: str, dataset_id: int, session: Session) -> None:
        connection = Http(base_url, self.token, timeout=REQUEST_TIMEOUT_SECONDS)
        while not session.stopping():
            offer = self.send(
                connection, "GET", f"/api/v1/datasets/{dataset_id}/next", until=session.stopping
            )
            if offer is None:
                return
            status, data = offer
            if status != 200:
                if status == 204:
                    self.tally.nothing_to_do()
                else:
                    self.tally.refuse(status)
                time.sleep(1.0)
                continue
            comparison_id = int(json.loads(data)["comparison_id"])
            time.sleep(self.rng.uniform(*self.think_seconds))
            self.vote(connection, comparison_id, session)

    def vote(self, connection: Http, comparison_id: int, session: Session) -> None:
        key = str(uuid.uuid4())  # one per judgement, the same on every retry
        answer = self.send(
            connection,
            "POST",
            f"/api/v1/comparisons/{comparison_id}/preferences",
            body=random_vote(self.rng),
            headers={"Idempotency-Key": key},
            until=session.drained,
        )
        if answer is None:
            self.tally.give_up()
            return
        status, data = answer
        if status in (200, 201):
            stored = json.loads(data)
            self.tally.ack(Ack(self.id, comparison_id, key, int(stored["id"]), time.monotonic()))
        else:
            self.tally.refuse(status)


def start_annotators(
    base_url: str, dataset_id: int, annotators: list[Annotator], session: Session
) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=annotator.run, args=(base_url, dataset_id, session), name=f"annotator-{n}")
        for n, annotator in enumerate(annotators)
    ]
    for thread in threads:
        thread.start()
    return threads
