"""Load benchmark of the collector's annotation queue on PostgreSQL; prints JSON.

Default mode: N simulated annotators (threads, each with its own keep-alive HTTP connection) loop
`next` + vote until a fixed number of votes is acknowledged; in the same run, the same per-vote database work
(token lookup, next_comparison, record_preference) on the async driver, no HTTP, on uvloop as the collector
runs; and the ratios of the two: in server CPU per vote (the collector's and its database's PostgreSQL
backends', against the driver's process and those backends': the load generator's own CPU, reported apart,
does not count) and in rate. --rounds pairs of the two, in alternating order, each on a new dataset, both
pools warmed up first (the collector's until it stops growing); the ratios are the rounds' median (one pair
swings by ±0.05). Then the open loop: next+vote arriving at a fixed rate (--rate per second for
--open-seconds), served by the N annotators, with latency timed from each arrival's scheduled time. Also:
p50/p99 latency of each call, errors, stored vs acknowledged and over-collected comparisons (both must be 0),
and the load average (a shared machine).

--scale: seeds a dataset of 1M comparisons and 1M votes with generate_series, and reports `next`
latency under the same load on it and on a 1k dataset of the same shape, and the time and the
collector's peak memory for a full `trl` export of the 1M votes; then switches both datasets to
uncertainty sampling with seeded synthetic reward margins and measures `next` again (`uncertainty`).

    python benchmarks/collector_load.py                       # starts its own collector and database
    python benchmarks/collector_load.py --workers 2 --votes 5000
    python benchmarks/collector_load.py --scale
    python benchmarks/collector_load.py --url http://127.0.0.1:8000 --database-url postgresql://...

Without --url it starts a collector of its own (benchmarks/scratch_stack.py: `rlhf up`'s start-up, with W
uvicorn workers) on a fresh database on --database-url's server (default: the local PostgreSQL at
127.0.0.1:5432), and drops it at the end. The simulated annotators are benchmarks/annotation_load.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg.rows import dict_row

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `python benchmarks/collector_load.py` runs from anywhere

from benchmarks.annotation_load import (  # noqa: E402
    Http,
    direct_load,
    http_load,
    make_annotators,
    make_dataset,
    open_loop_load,
    over_collected,
    stored_votes,
)
from benchmarks.measure import CpuMeter, fetch_one, latency_summary  # noqa: E402
from benchmarks.scratch_stack import scratch_stack  # noqa: E402
from services.client import CollectorClient  # noqa: E402
from services.core.databases import driver_url  # noqa: E402
from services.core.db import ANNOTATION_POOL_NAME  # noqa: E402

WARM_UP_VOTES_PER_ANNOTATOR = 10
MAX_WARM_UPS = 5  # of the collector's, until its pool stops growing
GOALS = {"votes_per_second": 300, "p99_ms": 100, "export_seconds_1m": 60, "cpu_fraction_of_direct": 0.8}


def warm_up_votes(args: argparse.Namespace) -> int:
    return WARM_UP_VOTES_PER_ANNOTATOR * args.annotators


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


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
    parser.add_argument(
        "--rounds",
        type=_positive,
        default=4,
        help="rounds of an HTTP and a driver run, in alternating order; the ratios are their median",
    )
    parser.add_argument("--rate", type=float, default=200, help="open-loop arrivals (next+vote) per second")
    parser.add_argument("--open-seconds", type=float, default=15, help="open-loop duration (0: skip)")
    parser.add_argument("--scale", action="store_true", help="1M comparisons / 1M votes mode")
    parser.add_argument("--scale-comparisons", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    return parser.parse_args()


# --- the system under test --------------------------------------------------------------------------------


@contextmanager
def collector(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """The collector under test: {url, database_url, admin_token, pid (None with --url)}."""
    if args.url:
        from services.core.settings import get_settings

        token = args.admin_token or get_settings().resolved_admin_token()
        yield {
            "url": args.url.rstrip("/"),
            "database_url": driver_url(args.database_url),
            "admin_token": token,
            "pid": None,
        }
        return
    env = {"RLHF_COLLECTOR_WORKERS": str(args.workers)}
    with scratch_stack(args.database_url, with_worker=False, env=env, keep_database=args.keep) as stack:
        yield {
            "url": stack.client.base_url,
            "database_url": stack.database_url,
            "admin_token": stack.processes.admin_token,
            "pid": stack.pid("collector"),
        }


def load_mode(args: argparse.Namespace, stack: dict[str, Any]) -> dict[str, Any]:
    admin = CollectorClient(stack["url"], stack["admin_token"])
    comparisons = args.votes // args.k + args.votes // 2 + args.annotators
    people = make_annotators(admin, args.annotators)
    tokens = [token for _, token in people]

    warm_ups = warm_up_collector(args, stack, admin, tokens)
    if not args.skip_direct:
        os.environ["RLHF_DATABASE_URL"] = stack["database_url"]
    # Rounds of an HTTP and a driver run, each on a dataset of its own, the order alternating (A-B, B-A, ...):
    # PostgreSQL's CPU per vote drifts with the tables' size and the machine's other work, so one pair of runs
    # can swing the ratio by ±0.05.
    rounds = [
        one_round(args, stack, admin, tokens, comparisons, direct_first=index % 2 == 1)
        for index in range(args.rounds)
    ]
    result: dict[str, Any] = {
        "collector_warm_ups": warm_ups,
        "http": rounds[0]["http"],
        "rounds": [summary(run) for run in rounds],
    }
    if not args.skip_direct:
        result["direct"] = rounds[0]["direct"]
        for key in ("http_over_direct", "http_over_direct_cpu"):
            values = [run[key] for run in rounds if key in run]
            if values:
                result[key] = round(statistics.median(values), 3)

    if args.open_seconds > 0:
        arrivals = int(args.rate * args.open_seconds)
        open_dataset = make_dataset(admin, arrivals // args.k + arrivals // 2 + args.annotators, args.k)
        result["open_loop"] = open_loop_load(
            stack["url"],
            tokens,
            open_dataset,
            args.rate,
            args.open_seconds,
            CpuMeter(stack["database_url"], stack["pid"]),
        )
        check_stored(stack["database_url"], open_dataset, result["open_loop"])

    http_result = result["http"]
    runs = [run["http"] for run in rounds] + ([result["open_loop"]] if "open_loop" in result else [])
    result["goals"] = {
        "votes_per_second_ge_300": http_result["votes_per_second"] >= GOALS["votes_per_second"],
        "closed_loop_p99_lt_100ms": max(
            http_result["next"]["p99_ms"] or 0, http_result["vote"]["p99_ms"] or 0
        )
        < GOALS["p99_ms"],
        "zero_lost_votes": all(
            run["lost_votes"] == 0 and not any(k.startswith("vote") for k in run["errors"]) for run in runs
        ),
        "zero_over_collected": all(run["over_collected_comparisons"] == 0 for run in runs),
    }
    if "http_over_direct_cpu" in result:
        result["goals"]["cpu_per_vote_ge_0.8_of_direct"] = (
            result["http_over_direct_cpu"] >= GOALS["cpu_fraction_of_direct"]
        )
    if "open_loop" in result:
        open_loop = result["open_loop"]
        result["goals"]["open_loop_p99_lt_100ms"] = (
            max(open_loop["next"]["p99_ms"] or 0, open_loop["vote"]["p99_ms"] or 0) < GOALS["p99_ms"]
        )
    return result


def warm_up_collector(
    args: argparse.Namespace, stack: dict[str, Any], admin: CollectorClient, tokens: list[str]
) -> dict[str, int]:
    """Warm-ups on datasets of their own, before metering, until the collector's pool stops growing: as a
    running service's, its connections are open and each has prepared its statements (psycopg prepares one on
    its fifth use). The driver's pool opens all of its connections before its warm-up (direct_load): neither
    path's per-vote figures carry connection start-ups (a new PostgreSQL backend plans every statement
    afresh). One warm-up used to leave the pool growing through the first rounds: up to 11 start-ups in a
    metered run. Says how many it took and the pool's size after them."""
    warm_up = warm_up_votes(args)
    warm_ups = 0
    connections = collector_connections(stack["database_url"])
    while warm_ups < MAX_WARM_UPS:
        opened = connections
        http_load(stack["url"], tokens, make_dataset(admin, warm_up, args.k), warm_up)
        warm_ups += 1
        connections = collector_connections(stack["database_url"])
        if connections <= opened:
            return {"warm_ups": warm_ups, "pool_connections": connections}
    print(f"the collector's pool still grew after {MAX_WARM_UPS} warm-ups ({connections})", file=sys.stderr)
    return {"warm_ups": warm_ups, "pool_connections": connections}


def collector_connections(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        return fetch_one(
            connection,
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            (ANNOTATION_POOL_NAME,),
        )


def one_round(
    args: argparse.Namespace,
    stack: dict[str, Any],
    admin: CollectorClient,
    tokens: list[str],
    comparisons: int,
    *,
    direct_first: bool,
) -> dict[str, Any]:
    """args.votes over HTTP and (unless --skip-direct) the same through the driver, each on a new dataset, in
    the order asked: rounds alternate it, so that neither path always meets the larger tables."""
    run: dict[str, Any] = {}
    if direct_first and not args.skip_direct:
        run["direct"] = direct_round(args, stack, admin, tokens, comparisons)
    run["http"] = http_round(args, stack, admin, tokens, comparisons)
    if not direct_first and not args.skip_direct:
        run["direct"] = direct_round(args, stack, admin, tokens, comparisons)
    if "direct" in run:
        run["http_over_direct"] = round(
            run["http"]["votes_per_second"] / run["direct"]["votes_per_second"], 3
        )
        if "server_ms_per_vote" in run["http"]["cpu"]:
            run["http_over_direct_cpu"] = round(
                run["direct"]["cpu"]["server_ms_per_vote"] / run["http"]["cpu"]["server_ms_per_vote"], 3
            )
    return run


def http_round(
    args: argparse.Namespace,
    stack: dict[str, Any],
    admin: CollectorClient,
    tokens: list[str],
    comparisons: int,
) -> dict[str, Any]:
    dataset = make_dataset(admin, comparisons, args.k)
    result = http_load(
        stack["url"], tokens, dataset, args.votes, CpuMeter(stack["database_url"], stack["pid"])
    )
    check_stored(stack["database_url"], dataset, result)
    cpu = result["cpu"]
    if stack["pid"] is None:
        # With --url the collector's own CPU is not seen: a CPU-bound rate would flatter it.
        cpu["cpu_bound_votes_per_second"] = None
    else:
        server = cpu["collector_ms_per_vote"] + cpu["postgres_database_ms_per_vote"]
        cpu["server_ms_per_vote"] = round(server, 3)
        cpu["client_share_of_cpu"] = round(
            cpu["client_ms_per_vote"] / (server + cpu["client_ms_per_vote"]), 3
        )
    return result


def direct_round(
    args: argparse.Namespace,
    stack: dict[str, Any],
    admin: CollectorClient,
    tokens: list[str],
    comparisons: int,
) -> dict[str, Any]:
    """The driver's pool is new each round: all its connections are opened, then it is warmed up, before it is
    metered (direct_load)."""
    warm_up = warm_up_votes(args)
    warm_dataset = make_dataset(admin, warm_up, args.k)
    dataset = make_dataset(admin, comparisons, args.k)
    meter = CpuMeter(stack["database_url"], None)
    result = direct_load(tokens, dataset, args.votes, meter, warm_up=(warm_dataset, warm_up))
    result["votes_stored"] = stored_votes(stack["database_url"], dataset)
    # The driver's work runs in this process: its CPU is the "server" side of the direct path.
    cpu = result["cpu"]
    cpu["server_ms_per_vote"] = round(cpu["client_ms_per_vote"] + cpu["postgres_database_ms_per_vote"], 3)
    return result


def summary(run: dict[str, Any]) -> dict[str, Any]:
    """One round's server CPU per vote on both paths and their ratios."""
    figures = {
        "http_votes_per_second": run["http"]["votes_per_second"],
        "http_server_ms_per_vote": run["http"]["cpu"].get("server_ms_per_vote"),
        "collector_ms_per_vote": run["http"]["cpu"].get("collector_ms_per_vote"),
        "http_database_connections_opened": run["http"]["cpu"].get("database_connections_opened"),
    }
    if "direct" in run:
        figures |= {
            "direct_votes_per_second": run["direct"]["votes_per_second"],
            "direct_server_ms_per_vote": run["direct"]["cpu"]["server_ms_per_vote"],
        }
    return figures | {key: run[key] for key in ("http_over_direct", "http_over_direct_cpu") if key in run}


def check_stored(database_url: str, dataset_id: int, run: dict[str, Any]) -> None:
    """Votes stored against acknowledged, and over-collected comparisons: both must be 0."""
    run["votes_stored"] = stored_votes(database_url, dataset_id)
    run["lost_votes"] = run["votes_acknowledged"] - run["votes_stored"]
    run["over_collected_comparisons"] = over_collected(database_url, dataset_id)


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

    # gold_draw 1: never a gold item (these datasets have none).
    params = {"annotator_id": annotator_id, "dataset_id": dataset_id, "gold_draw": 1.0}
    timings = []
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        for _ in range(calls):
            began = time.perf_counter()
            row = conn.execute(annotation._START, params).fetchone()
            timings.append(time.perf_counter() - began)
            assert row is not None and row["candidate"] is not None, "no candidate found"
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
    admin = CollectorClient(stack["url"], stack["admin_token"])
    n = args.scale_comparisons
    small_id = admin.create_dataset(f"scale-1k-{uuid.uuid4().hex[:6]}", annotations_per_comparison=3).id
    large_id = admin.create_dataset(f"scale-1m-{uuid.uuid4().hex[:6]}", annotations_per_comparison=3).id
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
    result["uncertainty"] = uncertainty_scale(args, stack, small_id, large_id, tokens)
    result["goals"] = {
        "export_trl_1m_votes_lt_60s": result["export_trl_large"]["seconds"] < GOALS["export_seconds_1m"],
        "next_search_as_fast_at_scale": result["search_p50_large_over_small"] < 1.5,
        "uncertainty_next_as_fast_at_scale": result["uncertainty"]["search_p50_large_over_small"] < 1.5,
    }
    return result


# Seeded synthetic reward margins (what score_comparisons jobs store: services/domain/scores.py) on the open
# comparisons, all but every tenth (unscored: they follow the scored ones in id order).
SCORE_SQL = [
    "SELECT setseed(0.42)",
    "UPDATE comparison SET reward_margin = random() WHERE dataset_id = %(dataset)s AND id %% 10 <> 0",
    "UPDATE dataset SET sampling = 'uncertainty' WHERE id = %(dataset)s",
]


def uncertainty_scale(
    args: argparse.Namespace, stack: dict[str, Any], small_id: int, large_id: int, tokens: list[str]
) -> dict[str, Any]:
    """The same datasets switched to uncertainty sampling with seeded synthetic margins: `next` at 1k vs 1M."""
    result: dict[str, Any] = {}
    began = time.perf_counter()
    with psycopg.connect(stack["database_url"], autocommit=True) as conn:
        for dataset_id in (small_id, large_id):
            for statement in SCORE_SQL:
                conn.execute(statement, {"dataset": dataset_id})
        conn.execute("VACUUM ANALYZE comparison")
    result["score_seconds"] = round(time.perf_counter() - began, 1)
    ((annotator_id, _),) = make_annotators(CollectorClient(stack["url"], stack["admin_token"]), 1)
    result["search_small"] = search_latency(stack["database_url"], small_id, annotator_id)
    result["search_large"] = search_latency(stack["database_url"], large_id, annotator_id)
    result["search_p50_large_over_small"] = round(
        result["search_large"]["p50_ms"] / result["search_small"]["p50_ms"], 2
    )
    result["alone_small"] = direct_load(tokens[:1], small_id, 100, CpuMeter(stack["database_url"], None))
    result["alone_large"] = direct_load(tokens[1:2], large_id, 100, CpuMeter(stack["database_url"], None))
    result["alone_next_p50_large_over_small"] = round(
        result["alone_large"]["next"]["p50_ms"] / result["alone_small"]["next"]["p50_ms"], 2
    )
    votes = min(args.votes, 1000)
    result["load_small"] = http_load(stack["url"], tokens[2:], small_id, min(votes, 200))
    result["load_large"] = http_load(stack["url"], tokens[2:], large_id, votes)
    result["load_next_p50_large_over_small"] = round(
        result["load_large"]["next"]["p50_ms"] / result["load_small"]["next"]["p50_ms"], 2
    )
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
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        }
        report |= scale_mode(args, stack) if args.scale else load_mode(args, stack)
        report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
