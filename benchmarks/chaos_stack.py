"""The chaos benchmark's stack: its own `rlhf up` (collector and worker) in a temporary state directory, on
embedded PostgreSQL and Redis — or on external servers, where it makes a scratch database and never restarts
or flushes anything it was not explicitly told it may; how to find and hurt each part; and the platform's
HTTP API as the benchmark uses it (admin token, a probe annotator)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import redis

from services.core.settings import GPU_QUEUE

REPO_ROOT = Path(__file__).resolve().parents[1]
CHILD_ARGS = {"collector": ["serve", "collector"], "worker": ["worker"]}
POSTGRES_STOP_SIGNALS = {"immediate": signal.SIGQUIT, "fast": signal.SIGINT, "kill": signal.SIGKILL}
# The worker's lines in `rlhf up`'s output: Celery says this once it consumes from the queue.
WORKER_READY = "ready."
WORKER_PREFIX = "   worker |"
FINISHED = ("succeeded", "failed", "cancelled")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(psycopg_url(url))
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


class UpStack:
    def __init__(
        self,
        state_dir: Path,
        *,
        admin_token: str,
        database_server_url: str | None,
        redis_url: str | None,
        timing: dict[str, str],
    ) -> None:
        self.state_dir = state_dir
        self.admin_token = admin_token
        self.database_server_url = database_server_url
        self.redis_url = redis_url
        self.timing = timing
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = state_dir / "up.log"
        self.scratch_database: str | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def embedded(self) -> bool:
        return self.database_server_url is None

    def start(self, *, timeout: float = 300) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("RLHF_")}
        env.update(
            {
                "RLHF_STATE_DIR": str(self.state_dir),
                "RLHF_COLLECTOR_PORT": str(self.port),
                "RLHF_ADMIN_TOKEN": self.admin_token,
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "TRL_EXPERIMENTAL_SILENCE": "1",
                "TOKENIZERS_PARALLELISM": "false",
                "COLUMNS": "200",
                **self.timing,
            }
        )
        if self.database_server_url is not None:
            self.scratch_database = f"rlhf_chaos_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(psycopg_url(self.database_server_url), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.scratch_database}"')
            env["RLHF_DATABASE_URL"] = with_database(self.database_server_url, self.scratch_database)
        if self.redis_url is not None:
            env["RLHF_REDIS_URL"] = self.redis_url
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--no-inference"],
            cwd=REPO_ROOT,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while "RLHF platform is up" not in self.log_text() or self.worker_ready_count() < 1:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rlhf up did not come up; see {self.log}")
            time.sleep(0.5)
        environ = psutil.Process(self.child_pid("collector")).environ()
        self.database_url = psycopg_url(environ["RLHF_DATABASE_URL"])
        self.broker_url = environ["RLHF_REDIS_URL"]

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(120)

    def drop_scratch_database(self) -> None:
        if self.database_server_url is not None and self.scratch_database is not None:
            with psycopg.connect(psycopg_url(self.database_server_url), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.scratch_database}" WITH (FORCE)')

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def worker_ready_count(self) -> int:
        return sum(
            1
            for line in self.log_text().splitlines()
            if line.startswith(WORKER_PREFIX) and line.rstrip().endswith(WORKER_READY)
        )

    def child_pid(self, name: str) -> int:
        """The live child process `name` of `rlhf up` (collector, worker); 0 while there is none."""
        assert self.process is not None
        wanted = ["services.cli", *CHILD_ARGS[name]]
        for child in psutil.Process(self.process.pid).children():
            try:
                if child.status() != psutil.STATUS_ZOMBIE and child.cmdline()[-len(wanted) :] == wanted:
                    return child.pid
            except psutil.NoSuchProcess:
                continue
        return 0

    def kill_child(self, name: str) -> int:
        pid = self.child_pid(name)
        if not pid:
            raise RuntimeError(f"no {name} process to kill")
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop_embedded_postgres(self, mode: str) -> None:
        """Stop the embedded postmaster; `rlhf up` starts it again."""
        assert self.embedded
        pid = int((self.state_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, POSTGRES_STOP_SIGNALS[mode])

    def flush_broker(self) -> tuple[str, int]:
        """FLUSHALL on the embedded Redis, FLUSHDB on an external one (its database only); the command, and
        how many job messages were waiting in the queue."""
        client = redis.Redis.from_url(self.broker_url.replace("redis+socket://", "unix://"))
        waiting = int(client.llen(GPU_QUEUE))
        if self.redis_url is None:
            client.flushall()
            return "FLUSHALL", waiting
        client.flushdb()
        return "FLUSHDB", waiting


def note(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> float | None:
    """Seconds until `check()` held (exceptions count as not yet), or None after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if check():
                return round(time.monotonic() - started, 2)
        except (httpx.HTTPError, OSError, ValueError):
            pass
        time.sleep(interval)
    return None


class Platform:
    """What the faults and the setup do through the collector's HTTP API (admin token, a probe annotator)."""

    def __init__(self, url: str, admin_token: str, job_params: dict[str, Any]) -> None:
        self.url = url
        self.admin = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30
        )
        self.job_params = job_params
        self.probe: httpx.Client | None = None
        self.train_dataset_id = 0

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """An admin call, retried through a restart (the faults run one at a time, so this is rare)."""
        deadline = time.monotonic() + 120
        while True:
            try:
                response = self.admin.request(method, path, **kwargs)
                if response.status_code < 500:
                    response.raise_for_status()
                    return response.json() if response.content else None
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {path}: no answer for 120 s")
            time.sleep(1)

    def serves_annotators(self) -> bool:
        """The annotator's hot path answers: the collector runs and reaches PostgreSQL."""
        assert self.probe is not None
        return self.probe.get("/api/v1/me").status_code == 200

    def submit_job(self) -> int:
        body = {
            "kind": "sft",
            "dataset_id": self.train_dataset_id,
            "base_model": "builtin:tiny-gpt2",
            "params": self.job_params,
        }
        return int(self.call("POST", "/api/v1/jobs", json=body)["id"])

    def job(self, job_id: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/v1/jobs/{job_id}"))

    def wait_job(
        self, job_id: int, ready: Callable[[dict[str, Any]], bool], *, timeout: float
    ) -> float | None:
        return wait_until(lambda: ready(self.job(job_id)), timeout=timeout, interval=0.25)
