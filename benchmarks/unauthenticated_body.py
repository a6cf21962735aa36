"""A large unauthenticated POST against the collector: its memory and its /health latency meanwhile; prints JSON.

An attacker without a token sends `POST /api/v1/datasets` with a 200 MB JSON body (a list of short strings,
as costly to parse as JSON gets per byte). The collector should refuse it (401) before reading it: its memory
stays flat and /health keeps answering in milliseconds. The baseline, measured in the same run: /health
latency and memory of the same collector at rest.

    python benchmarks/unauthenticated_body.py [--megabytes 200]

It starts a collector of its own (benchmarks/scratch_stack.py) on a scratch database.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `python benchmarks/unauthenticated_body.py` runs from anywhere

from benchmarks.measure import PeakMemory, latency_summary  # noqa: E402
from benchmarks.scratch_stack import scratch_stack  # noqa: E402

CHUNK = 1024 * 1024


def body_chunks(megabytes: int) -> list[bytes]:
    """A JSON array of 8-character strings, `megabytes` MB in all, in 1 MB chunks."""
    item = b'"abcdefg",'
    per_chunk = CHUNK // len(item)
    middle = item * per_chunk
    chunks = [b"[" + middle[1:]] + [middle] * (megabytes - 1)
    chunks[-1] = chunks[-1][:-1] + b"]"
    return chunks


def health_probe(url: str, stop: threading.Event, latencies: list[float]) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get("/health").raise_for_status()
            latencies.append(time.perf_counter() - started)
            time.sleep(0.02)


def probe_for(url: str, seconds: float) -> list[float]:
    latencies: list[float] = []
    stop = threading.Event()
    thread = threading.Thread(target=health_probe, args=(url, stop, latencies))
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join()
    return latencies


def attack(url: str, chunks: list[bytes]) -> dict[str, Any]:
    """The POST, with Content-Length, and no token; how it ended and how much of the body the server took."""
    sent = 0

    def stream() -> Any:
        nonlocal sent
        for chunk in chunks:
            yield chunk
            sent += len(chunk)

    size = sum(len(chunk) for chunk in chunks)
    started = time.perf_counter()
    try:
        response = httpx.post(
            url + "/api/v1/datasets",
            content=stream(),
            headers={"Content-Type": "application/json", "Content-Length": str(size)},
            timeout=300,
        )
        status: int | str = response.status_code
    except httpx.HTTPError as error:  # the server answered and closed before the client finished sending
        status = f"{type(error).__name__}"
    return {"status": status, "seconds": round(time.perf_counter() - started, 3), "bytes_sent": sent}


def _summary(latencies: list[float]) -> dict[str, Any]:
    return {**latency_summary(latencies), "max_ms": round(max(latencies, default=0.0) * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--megabytes", type=int, default=200)
    args = parser.parse_args()
    chunks = body_chunks(args.megabytes)
    with scratch_stack(with_worker=False) as stack:
        url = stack.client.base_url
        collector = psutil.Process(stack.pid("collector"))
        probe_for(url, 1.0)  # warm-up
        rest_rss = collector.memory_info().rss / 2**20
        at_rest = probe_for(url, 3.0)

        latencies: list[float] = []
        stop = threading.Event()
        prober = threading.Thread(target=health_probe, args=(url, stop, latencies))
        with PeakMemory(collector.pid) as memory:
            prober.start()
            outcome = attack(url, chunks)
            time.sleep(1.0)  # what the server does right after the answer counts too
            stop.set()
            prober.join()
    print(
        json.dumps(
            {
                "body_mb": args.megabytes,
                "attack": outcome,
                "collector_rss_mb": {
                    "at_rest": round(rest_rss, 1),
                    "peak_during_attack": round(memory.peak / 2**20, 1),
                },
                "health_at_rest": _summary(at_rest),
                "health_during_attack": _summary(latencies),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
