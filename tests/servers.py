"""Real servers for the tests: PostgreSQL, Redis, and our own processes run as subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class ServerProcess:
    """A subprocess (uvicorn, celery) with its output in a log file, shown when it fails to start."""

    def __init__(self, args: list[str], *, env: Mapping[str, str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self.log_file = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            args,
            env={**os.environ, **env},
            cwd=REPO_ROOT,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_text(self) -> str:
        self.log_file.flush()
        return self.log_path.read_text(errors="replace")

    def wait_http_ok(self, url: str, *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.args} exited early:\n{self.log_text()[-5000:]}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{url} not healthy after {timeout}s:\n{self.log_text()[-5000:]}")

    def stop(self, *, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


def uvicorn_args(app: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]


@contextmanager
def running_collector(env: Mapping[str, str], *, log_path: Path) -> Iterator[str]:
    """A collector (uvicorn subprocess) with this environment, on a free port; yields its URL."""
    port = free_port()
    server = ServerProcess(
        uvicorn_args("services.collector.app:app", port),
        env={**env, "RLHF_COLLECTOR_PORT": str(port)},
        log_path=log_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_http_ok(url + "/health")
        yield url
    finally:
        server.stop()
