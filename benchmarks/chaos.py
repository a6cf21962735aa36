"""Chaos benchmark: simulated annotators vote through the HTTP API while parts of the stack are killed; prints
JSON.

It starts its own stack with `rlhf up`'s start-up and supervision (benchmarks/scratch_stack.py: collector and
worker; embedded PostgreSQL and Redis in a temporary state directory), seeds a dataset and the annotators, measures votes/s in a calm first phase (the baseline), then,
at seeded random times, one fault at a time:

- collector: SIGKILL; `rlhf up` restarts it.
- postgres: the embedded server is stopped (immediate shutdown by default: a crash, WAL replay at start);
  `rlhf up` starts it again. Against an external server only with --postgres-restart-command.
- worker: SIGKILL in the middle of a training job (SFT on the built-in policy); `rlhf up` restarts it, the
  job watchdog queues the job again and the restarted worker runs it from the start (its second attempt).
- redis: FLUSHALL while a job waits in the queue behind a running one; then a new job is submitted. Against
  an external Redis only with --allow-redis-flush (FLUSHDB of the URL's database).

After each fault it measures the time until the part serves again. At the end the annotators stop, every
vote still under way is retried to an answer, jobs are given time to settle, and everything is read back
from PostgreSQL: acknowledged votes that are not stored (must be 0), duplicates (0), comparisons with more
votes than their dataset asks for (0), jobs still queued or running (0).

    python benchmarks/chaos.py                          # 240 s, seed 0, every fault once
    python benchmarks/chaos.py --duration 600 --rounds 2 --seed 7
    python benchmarks/chaos.py --database-url postgresql://postgres@db:5432/postgres --redis-url redis://r:6379/5 \
        --postgres-restart-command 'systemctl restart postgresql' --allow-redis-flush

The stack runs with a short job heartbeat timeout (20 s), requeue delay (10 s) and watchdog interval (2 s), so
that recovery fits in the run; the defaults (120 s, 60 s, 15 s) make the job recoveries proportionally longer.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `python benchmarks/chaos.py` runs from anywhere

from benchmarks.annotation_load import make_annotators, make_dataset, over_collected  # noqa: E402
from benchmarks.chaos_annotators import Annotator, Session, Tally, start_annotators  # noqa: E402
from benchmarks.chaos_faults import FAULTS, Faults, plan, run_schedule  # noqa: E402
from benchmarks.chaos_stack import Platform, Target, note, wait_until  # noqa: E402
from benchmarks.measure import fetch_one  # noqa: E402
from benchmarks.scratch_stack import ScratchStack, scratch_stack  # noqa: E402
from services.client import CollectorClient  # noqa: E402
from services.core.enums import ImportFormat  # noqa: E402
from services.domain.demo import DEMO_FILE  # noqa: E402

SFT_PARAMS = {"learning_rate": 1e-3, "num_train_epochs": 10, "logging_steps": 5}
# Short job heartbeat timeout, requeue delay and watchdog interval, so that the job recoveries fit in the run.
TIMING = {
    "RLHF_JOB_HEARTBEAT_TIMEOUT_SECONDS": "20",
    "RLHF_JOB_REQUEUE_AFTER_SECONDS": "10",
    "RLHF_WATCHDOG_INTERVAL_SECONDS": "2",
}
PROBE_TIMEOUT_SECONDS = 5.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=240, help="seconds of voting")
    parser.add_argument("--calm", type=float, default=30, help="first seconds without faults (the baseline)")
    parser.add_argument("--tail", type=float, default=40, help="last seconds without a new fault")
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--think", type=float, nargs=2, default=(0.2, 1.0), metavar=("MIN", "MAX"))
    parser.add_argument("--comparisons", type=int, default=6000)
    parser.add_argument("--k", type=int, default=3, help="annotations_per_comparison")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"a subset of {','.join(FAULTS)}")
    parser.add_argument("--rounds", type=int, default=1, help="how many times each fault happens")
    parser.add_argument(
        "--postgres-stop",
        choices=("immediate", "fast", "kill"),
        default="immediate",
        help="embedded PostgreSQL: SIGQUIT (crash-like), SIGINT (clean) or SIGKILL of the postmaster",
    )
    parser.add_argument(
        "--job-params", type=json.loads, default=SFT_PARAMS, help="the SFT jobs' params (JSON)"
    )
    parser.add_argument("--recovery-timeout", type=float, default=120)
    parser.add_argument("--settle-timeout", type=float, default=240, help="for jobs to finish after the run")
    parser.add_argument(
        "--drain", type=float, default=60, help="seconds a vote under way may retry at the end"
    )
    parser.add_argument(
        "--database-url", help="an external PostgreSQL server (a scratch database is made on it)"
    )
    parser.add_argument("--redis-url", help="an external Redis database")
    parser.add_argument(
        "--postgres-restart-command", help="shell command that restarts the external PostgreSQL"
    )
    parser.add_argument(
        "--allow-redis-flush", action="store_true", help="FLUSHDB the external Redis database"
    )
    parser.add_argument("--keep", action="store_true", help="keep the state directory (logs, data)")
    return parser.parse_args()


def seed(platform: Platform, args: argparse.Namespace) -> tuple[int, list[Annotator], Tally]:
    """The voting dataset (synthetic pairs), the SFT dataset (the demo pairs with winners), the annotators."""
    admin = platform.admin
    dataset_id = make_dataset(admin, args.comparisons, args.k)
    train = admin.create_dataset("chaos-sft")
    admin.import_jsonl(train.id, DEMO_FILE.read_bytes(), format=ImportFormat.TRL, with_preferences=True)
    platform.train_dataset_id = train.id
    tally = Tally()
    annotators = [
        Annotator(annotator_id, token, random.Random(args.seed * 1000 + n), tally, tuple(args.think))
        for n, (annotator_id, token) in enumerate(make_annotators(admin, args.annotators))
    ]
    probe = admin.create_annotator("chaos-probe")
    platform.probe = CollectorClient(
        admin.base_url, probe.token, token_source="the chaos probe annotator", timeout=PROBE_TIMEOUT_SECONDS
    )
    return dataset_id, annotators, tally


def read_back(database_url: str, dataset_id: int, tally: Tally) -> dict[str, Any]:
    """What PostgreSQL holds, against what the annotators were told."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """SELECT p.id, p.annotator_id, p.comparison_id, p.idempotency_key FROM preference p
               JOIN comparison c ON c.id = p.comparison_id WHERE c.dataset_id = %s""",
            (dataset_id,),
        ).fetchall()
        miscounted = fetch_one(
            conn,
            """SELECT count(*) FROM comparison c WHERE c.dataset_id = %s AND c.vote_count <>
               (SELECT count(*) FROM preference p WHERE p.comparison_id = c.id AND p.choice <> 'skip')""",
            (dataset_id,),
        )
    stored = {row[0]: row for row in rows}
    lost = [
        ack
        for ack in tally.acks
        if ack.preference_id not in stored
        or stored[ack.preference_id][1:] != (ack.annotator_id, ack.comparison_id, ack.key)
    ]
    per_pair: dict[tuple[int, int], int] = {}
    per_key: dict[tuple[int, str], int] = {}
    for _, annotator_id, comparison_id, key in rows:
        per_pair[(annotator_id, comparison_id)] = per_pair.get((annotator_id, comparison_id), 0) + 1
        if key is not None:
            per_key[(annotator_id, key)] = per_key.get((annotator_id, key), 0) + 1
    acked_keys = {ack.key for ack in tally.acks}
    return {
        "acknowledged": len(acked_keys),
        "stored": len(rows),
        "acknowledged_but_lost": len(lost),
        "lost_examples": [dataclasses.asdict(ack) for ack in lost[:5]],
        "duplicates": sum(n - 1 for n in per_pair.values()) + sum(n - 1 for n in per_key.values()),
        "stored_never_acknowledged": sum(1 for row in rows if row[3] not in acked_keys),
        "over_collected_comparisons": over_collected(database_url, dataset_id),
        "vote_count_mismatches": miscounted,
    }


def rate(tally: Tally, start: float, end: float) -> float:
    return round(sum(1 for ack in tally.acks if start <= ack.at < end) / max(end - start, 1e-9), 1)


def prebuild_builtin_policy() -> None:
    """Build the built-in policy into the stack's state dir first (about 25 s), so the jobs only train.

    In a process of its own: this one stays free of torch while it measures."""
    code = "from services.modeling.base_models import ensure_tiny_gpt2; ensure_tiny_gpt2()"
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, capture_output=True)


def run(stack: ScratchStack, target: Target, args: argparse.Namespace, kinds: list[str]) -> dict[str, Any]:
    """Seed, vote with faults, settle the jobs, read back; the report."""
    note(f"stack up (state in {stack.state_dir}); building the built-in policy")
    prebuild_builtin_policy()
    if wait_until(lambda: stack.child("worker").answering(), timeout=300) is None:
        raise RuntimeError(f"the worker did not start; see {stack.state_dir / 'worker.log'}")
    platform = Platform(stack.client, args.job_params)
    dataset_id, annotators, tally = seed(platform, args)
    schedule = plan([kind for kind in kinds for _ in range(args.rounds)], random.Random(args.seed), args)
    note(f"voting for {args.duration:.0f} s; faults at {schedule}")
    faults: list[dict[str, Any]] = []
    session = Session(drain_seconds=args.drain)
    t0 = time.monotonic()
    fault_thread = threading.Thread(
        target=run_schedule, args=(Faults(target, platform, args), schedule, t0, faults)
    )
    fault_thread.start()
    voting = start_annotators(stack.client.base_url, dataset_id, annotators, session)
    while time.monotonic() - t0 < args.duration or fault_thread.is_alive():
        time.sleep(0.5)
    session.stop()
    for annotator in voting:
        annotator.join()
    stop_at = session.stop_at or time.monotonic()

    note("voting over; letting the jobs settle")
    settled_s = wait_until(lambda: not platform.unfinished_jobs(), timeout=args.settle_timeout, interval=1.0)
    stuck = platform.unfinished_jobs()
    votes = read_back(stack.database_url, dataset_id, tally)
    jobs = platform.call(lambda admin: admin.list_jobs(limit=1000)).data
    recovered = [f.get("recovered_s") for f in faults if "skipped" not in f]
    given_up = stack.processes.supervisor.given_up
    report: dict[str, Any] = {
        "benchmark": "chaos",
        "seed": args.seed,
        "stack": {
            "postgres": "embedded" if target.embedded_postgres else "external",
            "redis": "embedded" if target.embedded_redis else "external",
        },
        "annotators": args.annotators,
        "voting_s": round(stop_at - t0, 1),
        "votes": {
            **votes,
            "conflicts_409": tally.conflicts,
            "refused": dict(tally.refused),
            "unacknowledged_at_end": tally.unacknowledged,
            "retries": dict(tally.retries),
        },
        "votes_per_s": {
            "calm_baseline": rate(tally, t0, t0 + args.calm),
            "with_faults": rate(tally, t0 + args.calm, stop_at),
        },
        "faults": faults,
        "jobs": {
            "left_queued_or_running_after_recovery": len(stuck),
            "stuck_ids": stuck,
            "settled_after_s": settled_s,
            "final": [
                {"id": job.id, "status": job.status.value, "attempts": job.attempts, "error": job.error}
                for job in sorted(jobs, key=lambda j: j.id)
            ],
        },
        # Parts of the stack `rlhf up`'s supervisor left down after repeated fast failures.
        "given_up": given_up,
        "settings": {**TIMING, "postgres_stop": args.postgres_stop, "job_params": args.job_params},
    }
    report["ok"] = (
        votes["acknowledged_but_lost"] == 0
        and votes["duplicates"] == 0
        and votes["over_collected_comparisons"] == 0
        and not stuck
        and not given_up
        and all(value is not None for value in recovered)
        and not any("error" in f for f in faults)
    )
    return report


def main() -> int:
    args = parse_args()
    kinds = [kind for kind in args.faults.split(",") if kind]
    unknown = set(kinds) - set(FAULTS)
    if unknown:
        raise SystemExit(f"unknown faults: {', '.join(sorted(unknown))} (known: {', '.join(FAULTS)})")
    note("starting the stack (rlhf up's start-up and supervision, collector and worker)")
    with scratch_stack(
        args.database_url,
        embedded_postgres=args.database_url is None,
        redis_url=args.redis_url,
        with_worker=True,
        env=TIMING,
    ) as stack:
        target = Target(
            stack, embedded_postgres=args.database_url is None, embedded_redis=args.redis_url is None
        )
        try:
            report = run(stack, target, args, kinds)
        except BaseException:
            note(f"the run failed; logs and data kept in {stack.state_dir}")
            raise
    if args.keep:
        note(f"kept {stack.state_dir}")
    else:
        shutil.rmtree(stack.state_dir, ignore_errors=True)
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
