"""The annotation load of benchmarks/collector_load.py: simulated annotators looping `next` + vote, over HTTP
or straight through the domain functions on the async driver, and what they stored.

Over HTTP the annotators use a few lines of http.client on keep-alive connections (as `wrk` would), not the
CollectorClient: on a 2-core machine the load generator shares the CPUs with the server, and httpx's
per-call cost would be measured as the server's. Setting up (datasets, annotators) goes through the client.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import random
import threading
import time
import urllib.parse
import uuid
from typing import Any

import psycopg
import uvloop
from psycopg_pool import AsyncConnectionPool

from benchmarks.measure import CpuMeter, fetch_one, latency_summary
from services.client import CollectorClient


class Http:
    """A keep-alive HTTP/1.1 connection (stdlib: cheap per call, so the client does not hog the CPU)."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 120.0) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        response, data = self.exchange(method, path, body, headers)
        return response.status, data

    def exchange(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[http.client.HTTPResponse, bytes]:
        """The answer (status and headers) and its body; raises OSError or HTTPException if none came."""
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = (
            self.headers
            | ({"Content-Type": "application/json"} if payload is not None else {})
            | (headers or {})
        )
        try:
            self.connection.request(method, path, body=payload, headers=all_headers)
            response = self.connection.getresponse()
        except (http.client.HTTPException, OSError):
            self.connection.close()  # reconnect once: the server may have closed an idle connection
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.connection.request(method, path, body=payload, headers=all_headers)
            response = self.connection.getresponse()
        return response, response.read()

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.request(method, path, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
        return json.loads(data)


def make_dataset(admin: CollectorClient, comparisons: int, k: int) -> int:
    dataset = admin.create_dataset(f"bench-{uuid.uuid4().hex[:8]}", annotations_per_comparison=k)
    for start in range(0, comparisons, 1000):
        items = [
            {
                "prompt": f"Question {i}: which answer is more helpful?",
                "response_a": f"Answer A to {i}. " * 8,
                "response_b": f"Answer B to {i}. " * 8,
            }
            for i in range(start, min(comparisons, start + 1000))
        ]
        admin.add_comparisons(dataset.id, items)
    return dataset.id


def make_annotators(admin: CollectorClient, n: int) -> list[tuple[int, str]]:
    made = [admin.create_annotator(f"bench-{i}") for i in range(n)]
    return [(annotator.id, annotator.token) for annotator in made]


def random_vote(rng: random.Random) -> dict[str, Any]:
    choice = rng.choice(("a", "b", "a", "b", "tie"))
    vote: dict[str, Any] = {
        "choice": choice,
        "time_spent_ms": rng.randint(500, 20000),
        "shown_left": rng.choice("ab"),
    }
    if choice != "tie":
        vote["strength"] = rng.randint(1, 3)
    return vote


class Tally:
    def __init__(self, target: int) -> None:
        self.target = target
        self.lock = threading.Lock()
        self.acknowledged = 0
        self.started = 0
        self.errors: dict[str, int] = {}
        self.latency: dict[str, list[float]] = {"next": [], "vote": []}

    def claim(self) -> bool:
        """Reserve one vote of the target; False when the target is reached."""
        with self.lock:
            if self.started >= self.target:
                return False
            self.started += 1
            return True

    def unclaim(self) -> None:
        with self.lock:
            self.started -= 1

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1

    def summary(self, seconds: float, meter: CpuMeter | None) -> dict[str, Any]:
        return {
            "votes_acknowledged": self.acknowledged,
            "seconds": round(seconds, 3),
            "votes_per_second": round(self.acknowledged / seconds, 1),
            "next": latency_summary(self.latency["next"]),
            "vote": latency_summary(self.latency["vote"]),
            "errors": self.errors,
            "cpu": meter.stop(self.acknowledged) if meter else None,
        }


def run_threads(workers: list[threading.Thread]) -> float:
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def http_load(
    url: str, tokens: list[str], dataset_id: int, votes: int, meter: CpuMeter | None = None
) -> dict[str, Any]:
    tally = Tally(votes)

    def annotate(token: str, seed: int) -> None:
        client, rng = Http(url, token), random.Random(seed)
        while tally.claim():
            began = time.perf_counter()
            status, body = client.request("GET", f"/api/v1/datasets/{dataset_id}/next")
            tally.latency["next"].append(time.perf_counter() - began)
            if status != 200:
                tally.unclaim()
                tally.error(f"next {status}")
                if status == 204:
                    return
                continue
            comparison_id = json.loads(body)["comparison_id"]
            began = time.perf_counter()
            status, body = client.request(
                "POST",
                f"/api/v1/comparisons/{comparison_id}/preferences",
                random_vote(rng),
                {"Idempotency-Key": uuid.uuid4().hex},
            )
            tally.latency["vote"].append(time.perf_counter() - began)
            if status == 201:
                with tally.lock:
                    tally.acknowledged += 1
            else:
                tally.unclaim()
                tally.error(f"vote {status}")

    if meter:
        meter.start()
    seconds = run_threads([threading.Thread(target=annotate, args=(t, i)) for i, t in enumerate(tokens)])
    return tally.summary(seconds, meter)


def open_loop_load(
    url: str, tokens: list[str], dataset_id: int, rate: float, seconds: float, meter: CpuMeter | None = None
) -> dict[str, Any]:
    """Annotators arriving at a fixed rate (open loop: one next+vote every 1/rate s, whatever the answers'
    speed), served by the first free one of len(tokens) annotators. `next` is timed from its arrival's
    scheduled time, so that waiting for a free annotator counts (no coordinated omission); a vote from its
    sending, right after its `next`."""
    arrivals = int(rate * seconds)
    tally = Tally(arrivals)
    schedule = iter(range(arrivals))
    lock = threading.Lock()
    began_at = time.perf_counter() + 0.2

    def annotate(token: str, seed: int) -> None:
        client, rng = Http(url, token), random.Random(seed)
        while True:
            with lock:
                number = next(schedule, None)
            if number is None:
                return
            due = began_at + number / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            status, body = client.request("GET", f"/api/v1/datasets/{dataset_id}/next")
            tally.latency["next"].append(time.perf_counter() - due)
            if status != 200:
                tally.error(f"next {status}")
                continue
            comparison_id = json.loads(body)["comparison_id"]
            sent = time.perf_counter()
            status, body = client.request(
                "POST",
                f"/api/v1/comparisons/{comparison_id}/preferences",
                random_vote(rng),
                {"Idempotency-Key": uuid.uuid4().hex},
            )
            tally.latency["vote"].append(time.perf_counter() - sent)
            if status == 201:
                with tally.lock:
                    tally.acknowledged += 1
            else:
                tally.error(f"vote {status}")

    if meter:
        meter.start()
    elapsed = run_threads([threading.Thread(target=annotate, args=(t, i)) for i, t in enumerate(tokens)])
    result = tally.summary(elapsed, meter)
    result["arrival_rate"] = rate
    result["arrivals"] = arrivals
    return result


def direct_load(
    tokens: list[str], dataset_id: int, votes: int, meter: CpuMeter, *, warm_up: tuple[int, int] | None = None
) -> dict[str, Any]:
    """The same database work per vote as the HTTP path (token lookup per call, next, vote), no HTTP: one
    task per annotator on one uvloop event loop, on the collector's async pool. `warm_up` (dataset, votes):
    votes cast before metering, so that the pool's connections have prepared their statements as the
    collector's have; the garbage collector is then tuned as the collector's is (its heap frozen, its young
    generation collected less often: services/core/http_server.py)."""
    from services.core.db import async_pool
    from services.core.http_server import tune_garbage_collector
    from services.domain import annotation, annotators
    from services.domain import votes as voting

    async def annotate(pool: AsyncConnectionPool, token: str, seed: int, tally: Tally, dataset: int) -> None:
        rng = random.Random(seed)
        while tally.claim():
            began = time.perf_counter()
            async with pool.connection() as connection:
                annotator = await annotators.get_by_token(connection, token)
                assert annotator is not None
                assignment = await annotation.next_comparison(connection, annotator, dataset)
            tally.latency["next"].append(time.perf_counter() - began)
            if assignment is None:
                tally.unclaim()
                tally.error("next none")
                return
            began = time.perf_counter()
            async with pool.connection() as connection:
                annotator = await annotators.get_by_token(connection, token)
                assert annotator is not None
                await voting.record_preference(
                    connection,
                    annotator,
                    assignment.comparison_id,
                    voting.Vote(**random_vote(rng)),
                    idempotency_key=uuid.uuid4().hex,
                )
            tally.latency["vote"].append(time.perf_counter() - began)
            tally.acknowledged += 1

    # Open the pool's connections first: their start-up is not part of the per-vote work.
    async def open_connection(pool: AsyncConnectionPool) -> None:
        async with pool.connection() as connection:
            await connection.execute("SELECT 1")
            await asyncio.sleep(0.2)  # hold it, so that each task opens a connection of its own

    tally = Tally(votes)

    async def run() -> tuple[float, dict[str, Any]]:
        # Named apart from the collector's pool, which collector_load.py counts in pg_stat_activity.
        async with async_pool(application_name="rlhf-benchmark-driver") as pool:
            await asyncio.gather(*(open_connection(pool) for _ in tokens))
            if warm_up is not None:
                warm_dataset, warm_votes = warm_up
                warm_tally = Tally(warm_votes)
                await asyncio.gather(
                    *(annotate(pool, t, -i, warm_tally, warm_dataset) for i, t in enumerate(tokens))
                )
            tune_garbage_collector()
            meter.start()
            started = time.perf_counter()
            await asyncio.gather(*(annotate(pool, t, i, tally, dataset_id) for i, t in enumerate(tokens)))
            seconds = time.perf_counter() - started
            # While the pool's backends live: the meter counts this database's backends alive at stop().
            return seconds, meter.stop(tally.acknowledged)

    # On the event loop the collector runs on (uvicorn takes uvloop when it is installed, as it is here).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        seconds, cpu = runner.run(run())
    return tally.summary(seconds, None) | {"cpu": cpu}


def stored_votes(database_url: str, dataset_id: int) -> int:
    with psycopg.connect(database_url) as conn:
        return fetch_one(
            conn,
            "SELECT count(*) FROM preference p JOIN comparison c ON c.id = p.comparison_id WHERE c.dataset_id = %s",
            (dataset_id,),
        )


def over_collected(database_url: str, dataset_id: int) -> int:
    """Comparisons with more slot-filling votes than annotations_per_comparison (must be 0)."""
    with psycopg.connect(database_url) as conn:
        return fetch_one(
            conn,
            """
            SELECT count(*) FROM (
                SELECT c.id FROM comparison c JOIN dataset d ON d.id = c.dataset_id
                JOIN preference p ON p.comparison_id = c.id AND p.choice <> 'skip'
                WHERE c.dataset_id = %s GROUP BY c.id, d.annotations_per_comparison
                HAVING count(*) > d.annotations_per_comparison
            ) over
            """,
            (dataset_id,),
        )
