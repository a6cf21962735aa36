"""What deduplicating imports cost; prints JSON.

Imports the ETHICS utilitarianism training pairs (13,738 rows, every one with the same prompt: the worst case
for the duplicate check, which reads back the dataset's comparisons of each batch's prompts) twice into a
dataset, with dedupe off (the baseline, measured in the same run) and on, through the domain's import (one
transaction each, as the collector runs it). The second import with dedupe on stores nothing and counts every
row as skipped.

    python benchmarks/import_dedupe.py [--server-url postgresql://postgres@127.0.0.1:5432/postgres] [--rows N]

A scratch database on the server, migrated to head and dropped at the end.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `python benchmarks/import_dedupe.py` runs from anywhere

from services.core.databases import scratch_database  # noqa: E402
from services.core.db import get_sessionmaker, reset_engine  # noqa: E402

ETHICS = REPO_ROOT / "tests" / "data" / "ethics_utilitarianism_train.csv"
PROMPT = "Which scenario is more pleasant?"


def jsonl(limit: int | None) -> bytes:
    with ETHICS.open(newline="") as source:
        pairs = list(csv.reader(source))[:limit]
    return "".join(
        json.dumps({"prompt": PROMPT, "chosen": c, "rejected": r}) + "\n" for c, r in pairs
    ).encode()


def run(body: bytes) -> dict[str, Any]:
    from services.domain import datasets, imports

    results: dict[str, Any] = {}
    for dedupe in (False, True):
        with get_sessionmaker()() as session:
            dataset = datasets.create(session, name=f"dedupe-{dedupe}")
            for attempt in ("first", "second"):
                start = time.perf_counter()
                result = imports.import_file(
                    session, dataset.id, io.BytesIO(body), format="trl", with_preferences=True, dedupe=dedupe
                )
                results[f"dedupe_{str(dedupe).lower()}_{attempt}"] = {
                    "seconds": round(time.perf_counter() - start, 2),
                    "comparisons": result.comparisons,
                    "skipped": result.skipped,
                }
    base = results["dedupe_false_first"]["seconds"]
    results["dedupe_overhead_ratio"] = round(results["dedupe_true_first"]["seconds"] / base, 2)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rows", type=int, default=None, help="import only the first N pairs")
    args = parser.parse_args()
    body = jsonl(args.rows)
    with scratch_database(args.server_url, prefix="rlhf_bench_import") as url:
        os.environ["RLHF_DATABASE_URL"] = url
        reset_engine()
        try:
            results = run(body)
        finally:
            reset_engine()
    print(json.dumps({"rows": body.count(b"\n"), **results}, indent=2))


if __name__ == "__main__":
    main()
