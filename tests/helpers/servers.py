"""Our own processes as subprocesses of the tests (uvicorn, celery), with their output in a log file."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from services.core.net import free_port, wait_healthy
from tests.helpers.paths import REPO_ROOT


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
        try:
            wait_healthy(url, process=self.process, name=" ".join(self.args), timeout=timeout)
        except RuntimeError as error:
            raise RuntimeError(f"{error}:\n{self.log_text()[-5000:]}") from None

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


def start_inference(env: Mapping[str, str], log_path: Path) -> tuple[ServerProcess, str]:
    """The inference service (uvicorn subprocess) on a free port, polling for promotions fast; (server, URL)."""
    port = free_port()
    server = ServerProcess(
        uvicorn_args("services.inference.app:app", port),
        env={"RLHF_INFERENCE_PORT": str(port), "RLHF_MODEL_POLL_SECONDS": "0.2", **env},
        log_path=log_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_http_ok(url + "/health", timeout=120)
    except BaseException:
        server.stop()
        raise
    return server, url
