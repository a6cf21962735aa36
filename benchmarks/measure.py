"""What the benchmarks measure with: memory and CPU of processes, and latency percentiles."""

from __future__ import annotations

import os
import statistics
import threading
from typing import Any

import psutil
import psycopg


class PeakMemory:
    """Peak resident memory (MB) of a process and its children, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.stop.wait(0.2):
            try:
                rss = self.process.memory_info().rss + sum(
                    child.memory_info().rss for child in self.process.children(recursive=True)
                )
            except psutil.Error:
                continue
            self.peak = max(self.peak, rss)

    def __enter__(self) -> PeakMemory:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)


def fetch_one(conn: psycopg.Connection[Any], sql: str, params: Any = None) -> Any:
    """The single value a query answers."""
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


class CpuMeter:
    """CPU seconds used between start() and stop() by a server process (and its children), by the PostgreSQL
    server, and by this benchmark process: on a shared machine, CPU per unit of work says more than wall-clock
    rates.

    PostgreSQL is counted whole: its live processes plus the postmaster's reaped children (backends that
    exited meanwhile), so other databases' work on a shared server counts too; on a quiet machine it is exact.
    `postgres_database` counts only the backends connected to this database (those alive at stop(): a
    backend that exited meanwhile is lost, see `database_connections_opened`): the figure to use on a server
    that other work shares.
    """

    def __init__(self, database_url: str, server_pid: int | None, *, server_name: str = "collector") -> None:
        self.database_url = database_url
        self.server_pid = server_pid
        self.server_name = server_name

    def _postmaster(self) -> psutil.Process:
        # Ask for the backend's parent while the connection is open: once closed, the backend exits.
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return psutil.Process(fetch_one(conn, "SELECT pg_backend_pid()")).parent()

    def _backends(self) -> dict[int, float]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            pids = [
                row[0]
                for row in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                ).fetchall()
            ]
        seconds = {}
        for pid in pids:
            try:
                seconds[pid] = self._seconds(psutil.Process(pid))
            except psutil.Error:
                continue
        return seconds

    def _usage(self) -> dict[str, float]:
        postmaster = self._postmaster()
        server = [postmaster, *postmaster.children()]
        reaped = postmaster.cpu_times()
        usage = {
            "postgres": sum(self._seconds(p) for p in server) + reaped.children_user + reaped.children_system,
            "client": self._seconds(psutil.Process()),
        }
        if self.server_pid:
            root = psutil.Process(self.server_pid)
            usage[self.server_name] = sum(self._seconds(p) for p in [root, *root.children(recursive=True)])
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
            return int(
                fetch_one(conn, "SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            )

    def start(self) -> None:
        self.sessions = self._sessions()
        self.before = self._usage()
        self.backends_before = self._backends()

    def stop(self, units: int, *, unit: str = "vote") -> dict[str, float | None]:
        after = self._usage()
        backends = self._backends()
        used = {name: after[name] - self.before[name] for name in after}
        total = sum(used.values())
        used["postgres_database"] = sum(
            seconds - self.backends_before.get(pid, 0.0) for pid, seconds in backends.items()
        )
        per_unit: dict[str, float | None] = {
            f"{name}_ms_per_{unit}": round(1000 * value / max(units, 1), 3) for name, value in used.items()
        }
        per_unit[f"total_ms_per_{unit}"] = round(1000 * total / max(units, 1), 3)
        # Connections opened meanwhile (each costs a backend start): a sign of a pool smaller than the load.
        per_unit["database_connections_opened"] = self._sessions() - self.sessions - 1
        # What the measured CPU cost allows on this machine's cores if nothing else ran.
        per_unit[f"cpu_bound_{unit}s_per_second"] = (
            round(units * (os.cpu_count() or 1) / total, 1) if total else None
        )
        return per_unit


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latency_summary(seconds: list[float]) -> dict[str, Any]:
    """p50, p99 and mean in milliseconds of call durations in seconds."""
    if not seconds:
        return {"calls": 0, "p50_ms": None, "p99_ms": None, "mean_ms": None}
    return {
        "calls": len(seconds),
        "p50_ms": round(percentile(seconds, 0.50) * 1000, 2),
        "p99_ms": round(percentile(seconds, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(seconds) * 1000, 2),
    }
