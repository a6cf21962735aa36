"""Load benchmark of the collector's annotation queue on PostgreSQL; prints JSON.

Default mode: N simulated annotators (threads, each with its own keep-alive HTTP connection) loop
`next` + vote until a fixed number of votes is acknowledged; then, in the same run, the same per-vote
database work (token lookup, next_comparison, record_preference) on the async driver, no HTTP,
and the ratio of the two rates. Also: p50/p99 latency of each call, errors, stored vs acknowledged.

--scale: seeds a dataset of 1M comparisons and 1M votes with generate_series, and reports `next`
latency under the same load on it and on a 1k dataset of the same shape, and the time and the
collector's peak memory for a full `trl` export of the 1M votes.

    python benchmarks/collector_load.py                       # starts its own collector and database
    python benchmarks/collector_load.py --workers 2 --votes 5000
    python benchmarks/collector_load.py --scale
    python benchmarks/collector_load.py --url http://127.0.0.1:8000 --database-url postgresql://...

Without --url it creates a fresh database on --database-url's server (default: the local PostgreSQL at
127.0.0.1:5432), migrates it, starts `uvicorn --workers W` on it, and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg_pool import AsyncConnectionPool

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

GOALS = {"votes_per_second": 300, "p99_ms": 100, "export_seconds_1m": 60}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running collector (else one is started)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("RLHF_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="the collector's database with --url; otherwise the server to create a scratch database on",
    )
    parser.add_argument("--admin-token", default=os.environ.get("RLHF_ADMIN_TOKEN"))
    parser.add_argument("--annotators", type=int, default=32)
    parser.add_argument("--votes", type=int, default=3000, help="acknowledged votes to collect per run")
    parser.add_argument("--k", type=int, default=3, help="annotations_per_comparison")
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes of a started collector"
    )
    parser.add_argument("--skip-direct", action="store_true", help="skip the no-HTTP baseline")
    parser.add_argument("--scale", action="store_true", help="1M comparisons / 1M votes mode")
    parser.add_argument("--scale-comparisons", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    return parser.parse_args()


def percentile_ms(ordered: list[float], q: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def latency_summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"calls": 0, "p50_ms": None, "p99_ms": None, "mean_ms": None}
    ordered = sorted(values)
    return {
        "calls": len(values),
        "p50_ms": percentile_ms(ordered, 0.50),
        "p99_ms": percentile_ms(ordered, 0.99),
        "mean_ms": round(statistics.fmean(values) * 1000, 2),
    }


def fetch_one(conn: psycopg.Connection, sql: str, params: Any = None) -> Any:
    """The single value a query answers."""
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


# --- the system under test --------------------------------------------------------------------------------


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(psycopg_url(url))
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


@contextmanager
def collector(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """The collector under test: {url, database_url, admin_token, pid (None with --url)}."""
    if args.url:
        from services.core.settings import get_settings

        token = args.admin_token or get_settings().resolved_admin_token()
        yield {
            "url": args.url.rstrip("/"),
            "database_url": psycopg_url(args.database_url),
            "admin_token": token,
            "pid": None,
        }
        return
    from services.core.migrate import upgrade_to_head

    name = f"rlhf_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(psycopg_url(args.database_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = with_database(args.database_url, name)
    token = uuid.uuid4().hex
    process = None
    try:
        upgrade_to_head(database_url)
        port = free_port()
        env = {
            **os.environ,
            "RLHF_DATABASE_URL": database_url,
            "RLHF_ADMIN_TOKEN": token,
            "RLHF_COLLECTOR_WORKERS": str(args.workers),
        }
        command = [sys.executable, "-m", "uvicorn", "services.collector.app:app", "--host", "127.0.0.1"]
        command += [
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--workers",
            str(args.workers),
        ]
        process = subprocess.Popen(command, env=env, cwd=REPO_ROOT)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        yield {"url": url, "database_url": database_url, "admin_token": token, "pid": process.pid}
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)
        if not args.keep:
            with psycopg.connect(psycopg_url(args.database_url), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Http(url).request("GET", "/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy")


class Http:
    """A keep-alive HTTP/1.1 connection (stdlib: cheap per call, so the client does not hog the CPU)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
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
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
            self.connection.request(method, path, body=payload, headers=all_headers)
            response = self.connection.getresponse()
        return response.status, response.read()

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.request(method, path, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
        return json.loads(data)


def make_dataset(admin: Http, comparisons: int, k: int) -> int:
    dataset_id = admin.json(
        "POST", "/api/v1/datasets", {"name": f"bench-{uuid.uuid4().hex[:8]}", "annotations_per_comparison": k}
    )["id"]
    for start in range(0, comparisons, 1000):
        items = [
            {
                "prompt": f"Question {i}: which answer is more helpful?",
                "response_a": f"Answer A to {i}. " * 8,
                "response_b": f"Answer B to {i}. " * 8,
            }
            for i in range(start, min(comparisons, start + 1000))
        ]
        admin.json("POST", f"/api/v1/datasets/{dataset_id}/comparisons", {"items": items})
    return int(dataset_id)


def make_annotators(admin: Http, n: int) -> list[tuple[int, str]]:
    made = [admin.json("POST", "/api/v1/annotators", {"name": f"bench-{i}"}) for i in range(n)]
    return [(a["id"], a["token"]) for a in made]


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


# --- the two loads ----------------------------------------------------------------------------------------


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


def run_threads(workers: list[threading.Thread]) -> float:
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


class CpuMeter:
    """CPU seconds used between start() and stop() by the collector (and its workers), by the PostgreSQL
    server, and by this benchmark process: on a shared machine, CPU per vote says more than wall-clock rates.

    PostgreSQL is counted whole: its live processes plus the postmaster's reaped children (backends that
    exited meanwhile), so other databases' work on a shared server counts too; on a quiet machine it is exact.
    """

    def __init__(self, database_url: str, collector_pid: int | None) -> None:
        self.database_url = database_url
        self.collector_pid = collector_pid

    def _postmaster(self) -> psutil.Process:
        # Ask for the backend's parent while the connection is open: once closed, the backend exits.
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return psutil.Process(fetch_one(conn, "SELECT pg_backend_pid()")).parent()

    def _usage(self) -> dict[str, float]:
        postmaster = self._postmaster()
        server = [postmaster, *postmaster.children()]
        reaped = postmaster.cpu_times()
        usage = {
            "postgres": sum(self._seconds(p) for p in server) + reaped.children_user + reaped.children_system,
            "client": self._seconds(psutil.Process()),
        }
        if self.collector_pid:
            root = psutil.Process(self.collector_pid)
            usage["collector"] = sum(self._seconds(p) for p in [root, *root.children(recursive=True)])
        return usage

    @staticmethod
    def _seconds(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            return 0.0
        return times.user + times.system

    def _sessions(self) -> int:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return fetch_one(conn, "SELECT sessions FROM pg_stat_database WHERE datname = current_database()")

    def start(self) -> None:
        self.sessions = self._sessions()
        self.before = self._usage()

    def stop(self, votes: int) -> dict[str, float | None]:
        after = self._usage()
        used = {name: after[name] - self.before[name] for name in after}
        per_vote: dict[str, float | None] = {
            f"{name}_ms_per_vote": round(1000 * value / max(votes, 1), 3) for name, value in used.items()
        }
        total = sum(used.values())
        per_vote["total_ms_per_vote"] = round(1000 * total / max(votes, 1), 3)
        # Connections opened meanwhile (each costs a backend start): a sign of a pool smaller than the load.
        per_vote["database_connections_opened"] = self._sessions() - self.sessions - 1
        # What the measured CPU cost allows on this machine's cores if nothing else ran.
        per_vote["cpu_bound_votes_per_second"] = (
            round(votes * (os.cpu_count() or 1) / total, 1) if total else None
        )
        return per_vote


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
    return {
        "votes_acknowledged": tally.acknowledged,
        "seconds": round(seconds, 3),
        "votes_per_second": round(tally.acknowledged / seconds, 1),
        "next": latency_summary(tally.latency["next"]),
        "vote": latency_summary(tally.latency["vote"]),
        "errors": tally.errors,
        "cpu": meter.stop(tally.acknowledged) if meter else None,
    }


def direct_load(tokens: list[str], dataset_id: int, votes: int, meter: CpuMeter) -> dict[str, Any]:
    """The same database work per vote as the HTTP path (token lookup per call, next, vote), no HTTP: one
    task per annotator on one event loop, on the collector's async pool."""
    from services.core.db import async_pool
    from services.domain import annotation, annotators

    tally = Tally(votes)

    async def annotate(pool: AsyncConnectionPool, token: str, seed: int) -> None:
        rng = random.Random(seed)
        while tally.claim():
            began = time.perf_counter()
            async with pool.connection() as connection:
                annotator = await annotators.get_by_token(connection, token)
                assert annotator is not None
                assignment = await annotation.next_comparison(connection, annotator, dataset_id)
            tally.latency["next"].append(time.perf_counter() - began)
            if assignment is None:
                tally.unclaim()
                tally.error("next none")
                return
            began = time.perf_counter()
            async with pool.connection() as connection:
                annotator = await annotators.get_by_token(connection, token)
                assert annotator is not None
                await annotation.record_preference(
                    connection,
                    annotator,
                    assignment.comparison_id,
                    annotation.Vote(**random_vote(rng)),
                    idempotency_key=uuid.uuid4().hex,
                )
            tally.latency["vote"].append(time.perf_counter() - began)
            tally.acknowledged += 1

    # Open the pool's connections first: their start-up is not part of the per-vote work.
    async def warm_up(pool: AsyncConnectionPool) -> None:
        async with pool.connection() as connection:
            await connection.execute("SELECT 1")
            await asyncio.sleep(0.2)  # hold it, so that each task opens a connection of its own

    async def run() -> float:
        async with async_pool() as pool:
            await asyncio.gather(*(warm_up(pool) for _ in tokens))
            meter.start()
            started = time.perf_counter()
            await asyncio.gather(*(annotate(pool, t, i) for i, t in enumerate(tokens)))
            return time.perf_counter() - started

    seconds = asyncio.run(run())
    return {
        "votes_acknowledged": tally.acknowledged,
        "seconds": round(seconds, 3),
        "votes_per_second": round(tally.acknowledged / seconds, 1),
        "next": latency_summary(tally.latency["next"]),
        "vote": latency_summary(tally.latency["vote"]),
        "errors": tally.errors,
        "cpu": meter.stop(tally.acknowledged),
    }


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


def load_mode(args: argparse.Namespace, stack: dict[str, Any]) -> dict[str, Any]:
    admin = Http(stack["url"], stack["admin_token"])
    comparisons = args.votes // args.k + args.votes // 2 + args.annotators
    people = make_annotators(admin, args.annotators)
    tokens = [token for _, token in people]

    http_dataset = make_dataset(admin, comparisons, args.k)
    # A short warm-up on its own dataset opens the collector's database connections before metering.
    http_load(stack["url"], tokens, make_dataset(admin, 2 * args.annotators, args.k), args.annotators)
    meter = CpuMeter(stack["database_url"], stack["pid"])
    result: dict[str, Any] = {"http": http_load(stack["url"], tokens, http_dataset, args.votes, meter)}
    result["http"]["votes_stored"] = stored_votes(stack["database_url"], http_dataset)
    result["http"]["lost_votes"] = result["http"]["votes_acknowledged"] - result["http"]["votes_stored"]
    result["http"]["over_collected_comparisons"] = over_collected(stack["database_url"], http_dataset)
    if stack["pid"] is None:
        # With --url the collector's own CPU is not seen: a CPU-bound rate would flatter it.
        result["http"]["cpu"]["cpu_bound_votes_per_second"] = None

    if not args.skip_direct:
        os.environ["RLHF_DATABASE_URL"] = stack["database_url"]
        direct_dataset = make_dataset(admin, comparisons, args.k)
        result["direct"] = direct_load(
            tokens, direct_dataset, args.votes, CpuMeter(stack["database_url"], None)
        )
        result["direct"]["votes_stored"] = stored_votes(stack["database_url"], direct_dataset)
        result["http_over_direct"] = round(
            result["http"]["votes_per_second"] / result["direct"]["votes_per_second"], 3
        )
    http_result = result["http"]
    result["goals"] = {
        "votes_per_second_ge_300": http_result["votes_per_second"] >= GOALS["votes_per_second"],
        "p99_lt_100ms": max(http_result["next"]["p99_ms"] or 0, http_result["vote"]["p99_ms"] or 0)
        < GOALS["p99_ms"],
        "zero_lost_votes": http_result["lost_votes"] == 0
        and not any(k.startswith("vote") for k in http_result["errors"]),
    }
    return result


# --- scale mode -------------------------------------------------------------------------------------------

# A dataset shaped like a long-running project: the first quarter complete (k=3 votes each), the second
# quarter with one vote each, the rest untouched; 1,000 distinct prompts; votes from 1,000 annotators.
SEED_SQL = [
    """
    INSERT INTO prompt (text, text_sha256)
    SELECT 'Scale prompt ' || g || ': which answer is better?', md5('scale' || g) || md5('prompt' || g)
    FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING
    """,
    """
    INSERT INTO annotator (name, role)
    SELECT 'seed-' || g, 'annotator' FROM generate_series(1, 1000) g
    """,
    """
    CREATE TEMP TABLE seed_annotators AS
    SELECT row_number() OVER (ORDER BY id) - 1 AS n, id
    FROM (SELECT id FROM annotator WHERE name LIKE 'seed-%%' ORDER BY id DESC LIMIT 1000) latest
    """,
    """
    INSERT INTO comparison (dataset_id, prompt_id, response_a, response_b, vote_count, is_complete)
    SELECT %(dataset)s,
           (SELECT id FROM prompt WHERE text_sha256 = md5('scale' || (1 + g %% 1000)) || md5('prompt' || (1 + g %% 1000))),
           'Answer A number ' || g || ', written at some length so that rows have a realistic width. ' || repeat('a', 40),
           'Answer B number ' || g || ', written at some length so that rows have a realistic width. ' || repeat('b', 40),
           CASE WHEN g <= %(n)s / 4 THEN 3 WHEN g <= %(n)s / 2 THEN 1 ELSE 0 END,
           g <= %(n)s / 4
    FROM generate_series(1, %(n)s) g
    """,
    """
    INSERT INTO preference (comparison_id, annotator_id, choice, strength, time_spent_ms, shown_left, created_at)
    SELECT c.id, a.id,
           (ARRAY['a', 'a', 'b', 'b', 'a', 'tie'])[1 + (c.id + j) %% 6],
           CASE WHEN (c.id + j) %% 6 = 5 THEN NULL ELSE 1 + (c.id * 7 + j) %% 3 END,
           1000 + (c.id * 13 + j) %% 20000,
           CASE WHEN (c.id + j) %% 2 = 0 THEN 'a' ELSE 'b' END,
           now()
    FROM comparison c
    CROSS JOIN generate_series(0, 2) j
    JOIN seed_annotators a ON a.n = (c.id + j * 333) %% 1000
    WHERE c.dataset_id = %(dataset)s AND j < c.vote_count
    """,
]


def seed(database_url: str, dataset_id: int, n: int) -> float:
    began = time.perf_counter()
    with psycopg.connect(database_url) as conn:
        for statement in SEED_SQL:
            conn.execute(statement, {"dataset": dataset_id, "n": n})
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE comparison")
        conn.execute("VACUUM ANALYZE preference")
        conn.execute("VACUUM ANALYZE lease")
    return time.perf_counter() - began


def search_latency(database_url: str, dataset_id: int, annotator_id: int, calls: int = 300) -> dict[str, Any]:
    """The first statement of `next` (held lease + windowed candidate search + row lock) on its own, rolled
    back each time: what the search itself costs at this size, without commits or HTTP."""
    from services.domain import annotation

    params = {"annotator_id": annotator_id, "dataset_id": dataset_id, "after": 0}
    timings = []
    with psycopg.connect(database_url) as conn:
        for _ in range(calls):
            began = time.perf_counter()
            row = conn.execute(annotation._START, params).fetchone()
            timings.append(time.perf_counter() - began)
            assert row is not None and row[3] is not None, "no candidate found"
            conn.rollback()
    return latency_summary(timings)


def timed_export(url: str, token: str, dataset_id: int, pid: int | None, fmt: str) -> dict[str, Any]:
    """Stream a full export, discarding it; sample the collector's memory (RSS of it and its children)."""
    process = psutil.Process(pid) if pid else None

    def rss() -> int:
        if process is None:
            return 0
        return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])

    before = rss()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss())

    sampler = threading.Thread(target=sample)
    sampler.start()
    client = Http(url, token)
    began = time.perf_counter()
    client.connection.request(
        "GET", f"/api/v1/datasets/{dataset_id}/export?format={fmt}", headers=client.headers
    )
    response = client.connection.getresponse()
    lines = size = 0
    while chunk := response.read(1 << 20):
        lines += chunk.count(b"\n")
        size += len(chunk)
    seconds = time.perf_counter() - began
    done.set()
    sampler.join()
    return {
        "status": response.status,
        "lines": lines,
        "megabytes": round(size / 1e6, 1),
        "seconds": round(seconds, 2),
        "collector_rss_before_mb": round(before / 1e6, 1) if pid else None,
        "collector_rss_peak_mb": round(peak[0] / 1e6, 1) if pid else None,
    }


def scale_mode(args: argparse.Namespace, stack: dict[str, Any]) -> dict[str, Any]:
    admin = Http(stack["url"], stack["admin_token"])
    n = args.scale_comparisons
    small_id = admin.json(
        "POST",
        "/api/v1/datasets",
        {"name": f"scale-1k-{uuid.uuid4().hex[:6]}", "annotations_per_comparison": 3},
    )["id"]
    large_id = admin.json(
        "POST",
        "/api/v1/datasets",
        {"name": f"scale-1m-{uuid.uuid4().hex[:6]}", "annotations_per_comparison": 3},
    )["id"]
    result: dict[str, Any] = {"comparisons": n}
    result["seed_seconds_small"] = round(seed(stack["database_url"], small_id, 1000), 1)
    result["seed_seconds_large"] = round(seed(stack["database_url"], large_id, n), 1)
    with psycopg.connect(stack["database_url"]) as conn:
        result["votes_in_large"] = fetch_one(
            conn,
            "SELECT count(*) FROM preference p JOIN comparison c ON c.id = p.comparison_id WHERE c.dataset_id = %s",
            (large_id,),
        )
    people = make_annotators(admin, args.annotators)
    tokens = [token for _, token in people]
    result["search_small"] = search_latency(stack["database_url"], small_id, people[0][0])
    result["search_large"] = search_latency(stack["database_url"], large_id, people[0][0])
    result["search_p50_large_over_small"] = round(
        result["search_large"]["p50_ms"] / result["search_small"]["p50_ms"], 2
    )
    # One annotator alone: what `next` itself costs, without queueing behind 31 others on a shared CPU.
    os.environ["RLHF_DATABASE_URL"] = stack["database_url"]
    result["alone_small"] = direct_load(tokens[:1], small_id, 100, CpuMeter(stack["database_url"], None))
    result["alone_large"] = direct_load(tokens[1:2], large_id, 100, CpuMeter(stack["database_url"], None))
    result["alone_next_p50_large_over_small"] = round(
        result["alone_large"]["next"]["p50_ms"] / result["alone_small"]["next"]["p50_ms"], 2
    )
    # All annotators at once, over HTTP.
    votes = min(args.votes, 1000)
    result["load_small"] = http_load(stack["url"], tokens[2:], small_id, min(votes, 200))
    result["load_large"] = http_load(stack["url"], tokens[2:], large_id, votes)
    small_p50, large_p50 = result["load_small"]["next"]["p50_ms"], result["load_large"]["next"]["p50_ms"]
    result["load_next_p50_large_over_small"] = round(large_p50 / small_p50, 2)
    for fmt in ("trl", "raw"):
        result[f"export_{fmt}_small"] = timed_export(
            stack["url"], stack["admin_token"], small_id, stack["pid"], fmt
        )
        result[f"export_{fmt}_large"] = timed_export(
            stack["url"], stack["admin_token"], large_id, stack["pid"], fmt
        )
    result["goals"] = {
        "export_trl_1m_votes_lt_60s": result["export_trl_large"]["seconds"] < GOALS["export_seconds_1m"],
        "next_search_as_fast_at_scale": result["search_p50_large_over_small"] < 1.5,
    }
    return result


def main() -> None:
    args = parse_args()
    with collector(args) as stack:
        report: dict[str, Any] = {
            "mode": "scale" if args.scale else "load",
            "annotators": args.annotators,
            "votes_target": args.votes,
            "annotations_per_comparison": args.k,
            "collector_workers": args.workers if not args.url else None,
            "cpu_count": os.cpu_count(),
        }
        report |= scale_mode(args, stack) if args.scale else load_mode(args, stack)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
