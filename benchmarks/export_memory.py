"""The collector's memory while it streams a large export; prints JSON.

Imports N preference pairs (ETHICS utilitarianism pairs, cycled, each with its own prompt and its known winner
as a vote) into a scratch database, then for each format (parquet, trl) starts a fresh collector, downloads
`GET /api/v1/datasets/{id}/export` to a file and reads the collector's peak resident memory (VmHWM: the
kernel's exact high-water mark, so a short export is not missed between samples) against its resident memory
just before the request. The baseline, measured in the same run, is the same export of a small dataset
(--small rows): a streaming export's peak should not grow with the dataset.

    python benchmarks/export_memory.py [--server-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--rows 200000] [--small 2000]

A scratch database on the server, migrated to head and dropped at the end. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `python benchmarks/export_memory.py` runs from anywhere

from services.core.databases import scratch_database  # noqa: E402
from services.core.db import get_sessionmaker, reset_engine  # noqa: E402
from services.core.net import free_port  # noqa: E402
from services.core.security import new_token  # noqa: E402
from services.core.settings import get_settings  # noqa: E402

ETHICS = REPO_ROOT / "tests" / "data" / "ethics_utilitarianism_train.csv"
IMPORT_BATCH = 20_000


def pairs_jsonl(start: int, count: int, pairs: list[list[str]]) -> bytes:
    rows = (
        {
            "prompt": f"Which scenario is more pleasant? (case {start + i})",
            "chosen": pairs[(start + i) % len(pairs)][0],
            "rejected": pairs[(start + i) % len(pairs)][1],
        }
        for i in range(count)
    )
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def make_dataset(name: str, rows: int, pairs: list[list[str]]) -> tuple[int, float]:
    """(dataset id, seconds the import took)."""
    from services.domain import datasets, imports

    started = time.perf_counter()
    with get_sessionmaker()() as session:
        dataset_id = datasets.create(session, name=name).id
        for start in range(0, rows, IMPORT_BATCH):
            body = pairs_jsonl(start, min(IMPORT_BATCH, rows - start), pairs)
            imports.import_file(
                session, dataset_id, io.BytesIO(body), format="trl", with_preferences=True, dedupe=False
            )
    return dataset_id, time.perf_counter() - started


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def export_once(env: dict[str, str], dataset_id: int, fmt: str, output: Path) -> dict[str, Any]:
    """A fresh collector exports the dataset once; its memory before and at its peak."""
    port = free_port()
    token = env["RLHF_ADMIN_TOKEN"]
    server = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "collector"],
        env={**env, "RLHF_COLLECTOR_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the collector did not start")
                time.sleep(0.2)
            client.get(f"/api/v1/datasets/{dataset_id}/stats").raise_for_status()  # a warm request first
            before_kb = memory_kb(server.pid, "VmRSS")
            started = time.perf_counter()
            size = 0
            with (
                client.stream(
                    "GET", f"/api/v1/datasets/{dataset_id}/export", params={"format": fmt}
                ) as answer,
                output.open("wb") as sink,
            ):
                answer.raise_for_status()
                for chunk in answer.iter_bytes():
                    sink.write(chunk)
                    size += len(chunk)
            seconds = time.perf_counter() - started
            peak_kb = memory_kb(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "rss_before_mb": round(before_kb / 1024, 1),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "peak_growth_mb": round((peak_kb - before_kb) / 1024, 1),
        "seconds": round(seconds, 2),
        "bytes": size,
    }


def check_rows(fmt: str, path: Path, expected: int) -> None:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(path).metadata.num_rows
    else:
        with path.open("rb") as lines:
            rows = sum(1 for _ in lines)
    if rows != expected:
        raise RuntimeError(f"{fmt} export of {expected} pairs held {rows} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--small", type=int, default=2_000)
    args = parser.parse_args()
    with ETHICS.open(newline="") as source:
        pairs = [row for row in csv.reader(source) if len(row) == 2]

    results: dict[str, Any] = {"rows": args.rows, "small": args.small}
    with (
        scratch_database(args.server_url, prefix="bench_export") as url,
        tempfile.TemporaryDirectory() as state,
    ):
        env = {
            **os.environ,
            "RLHF_DATABASE_URL": url,
            "RLHF_STATE_DIR": state,
            "RLHF_ADMIN_TOKEN": new_token(),
            "RLHF_COLLECTOR_WORKERS": "1",
        }
        os.environ.update({"RLHF_DATABASE_URL": url, "RLHF_STATE_DIR": state})
        get_settings.cache_clear()
        reset_engine()
        for label, rows in (("small", args.small), ("large", args.rows)):
            dataset_id, import_seconds = make_dataset(f"export-{label}", rows, pairs)
            results[label] = {"comparisons": rows, "import_seconds": round(import_seconds, 1)}
            for fmt in ("parquet", "trl"):
                output = Path(state) / f"{label}.{fmt}"
                results[label][fmt] = export_once(env, dataset_id, fmt, output)
                check_rows(fmt, output, rows)
                output.unlink()
        reset_engine()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
