"""`rlhf up` as a newcomer runs it, in a subprocess: no RLHF_DATABASE_URL / RLHF_REDIS_URL (embedded servers in a
state directory of the test's own), output in a log file; and ways to find and kill its parts."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers.paths import REPO_ROOT

# The supervisor's `ChildProcess` runs `python -m services.cli ARGS`.
CHILD_ARGS = {"collector": ["serve", "collector"], "worker": ["worker"], "inference": ["serve", "inference"]}


def start_up(
    state_dir: Path, port: int, log: Path, *, args: list[str], env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("RLHF_")}
    clean.update({"RLHF_STATE_DIR": str(state_dir), "RLHF_COLLECTOR_PORT": str(port), "COLUMNS": "200"})
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", *args],
        cwd=REPO_ROOT,
        env={**clean, **(env or {})},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def wait_for_log(process: subprocess.Popen[bytes], log: Path, text: str, *, timeout: float = 120) -> str:
    """Wait until `text` appears in the log (counting from the start); the whole log so far."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = log.read_text(errors="replace")
        if text in found:
            return found
        if process.poll() is not None:
            pytest.fail(f"rlhf up exited with {process.returncode} before {text!r}:\n{found}")
        time.sleep(0.2)
    # SIGINT, not SIGKILL: its children run in sessions of their own and would outlive it.
    with contextlib.suppress(subprocess.TimeoutExpired):
        interrupt(process)
    pytest.fail(f"no {text!r} after {timeout}s:\n{log.read_text(errors='replace')}")


def wait_for_banner(process: subprocess.Popen[bytes], log: Path, *, timeout: float = 120) -> str:
    return wait_for_log(process, log, "RLHF platform is up", timeout=timeout)


def interrupt(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(60)


def child_pid(up: subprocess.Popen[bytes], name: str) -> int | None:
    """The pid of `rlhf up`'s live child process `name` (collector, worker, inference), if one runs."""
    wanted = ["services.cli", *CHILD_ARGS[name]]
    for child in psutil.Process(up.pid).children():
        try:
            cmdline = child.cmdline()
            if child.status() != psutil.STATUS_ZOMBIE and cmdline[-len(wanted) :] == wanted:
                return child.pid
        except psutil.NoSuchProcess:
            continue
    return None


def wait_for_new_child(
    up: subprocess.Popen[bytes], name: str, *, old: int | None, timeout: float = 60
) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = child_pid(up, name)
        if pid is not None and pid != old:
            return pid
        time.sleep(0.05)
    pytest.fail(f"no new {name} process after {timeout}s")


def postmaster_pid(state_dir: Path) -> int:
    return int((state_dir / "postgres" / "postmaster.pid").read_text().split()[0])


def redis_server_pid(state_dir: Path) -> int:
    settings = json.loads((state_dir / "redis.db.settings").read_text())
    return int(Path(settings["pidfile"]).read_text().strip())


def embedded_postgres_running(state_dir: Path) -> bool:
    data_dir = str(state_dir / "postgres")
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and data_dir in " ".join(proc.info["cmdline"] or []):
            return True
    return False
