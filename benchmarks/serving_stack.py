"""What the serving benchmarks share: a scratch database and artifact store, model versions, the inference
service as a uvicorn subprocess, and a lean HTTP/1.1 load client.

The load client is a few lines of asyncio on keep-alive connections (as `wrk` would be) rather than httpx:
on a 2-core machine the load generator shares the CPUs with the server, and httpx's per-request cost
would be measured as the server's.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from services.core import embedded  # noqa: E402
from services.core.artifacts import new_version_dir  # noqa: E402
from services.core.databases import scratch_database  # noqa: E402
from services.core.db import reset_engine, session_scope  # noqa: E402
from services.core.net import free_port, tcp_open, wait_healthy  # noqa: E402
from services.core.orm import ModelVersion  # noqa: E402
from services.core.settings import get_settings  # noqa: E402
from services.domain import model_versions  # noqa: E402
from tests.helpers.paths import DATA_DIR  # noqa: E402


class ServingStack:
    """A scratch database (dropped at exit) and artifact dir; the builtin model cache stays in the state dir."""

    def __init__(self, *, postgres_url: str | None = None) -> None:
        self.postgres_url = postgres_url
        self.scratch = Path(tempfile.mkdtemp(prefix="rlhf-bench-"))
        self.embedded: embedded.EmbeddedPostgres | None = None
        self.server: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.env: dict[str, str] = {}
        # The bearer token for /metrics when the service runs with RLHF_INFERENCE_AUTH on.
        self.token: str | None = None

    def __enter__(self) -> ServingStack:
        admin = self.postgres_url
        if admin is None:
            if tcp_open("127.0.0.1", 5432):
                admin = "postgresql://postgres@127.0.0.1:5432/postgres"
            else:
                self.embedded = embedded.start_postgres(self.scratch / "postgres")
                admin = self.embedded.url
        self.database = scratch_database(admin, prefix="rlhf_bench")
        url = self.database.__enter__()
        self.env = {
            "RLHF_DATABASE_URL": url,
            "RLHF_ARTIFACT_DIR": str(self.scratch / "artifacts"),
            "RLHF_STATE_DIR": str(get_settings().state_dir.resolve()),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        os.environ.update(self.env)
        get_settings.cache_clear()
        reset_engine()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_inference()
        reset_engine()
        self.database.__exit__(None, None, None)
        if self.embedded is not None:
            self.embedded.stop()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def add_promoted_version(self, kind: str, name: str, build: Callable[[Path], None]) -> Path:
        """Write a model version into the artifact store, insert its row and promote it."""
        relative = f"bench/{name}"
        with new_version_dir(relative) as directory:
            build(directory)
        with session_scope() as session:
            version = ModelVersion(name=name, kind=kind, base_model="benchmark", path=relative)
            session.add(version)
            session.commit()
            model_versions.promote(session, version.id)
        return self.scratch / "artifacts" / relative

    def start_inference(self, extra_env: dict[str, str] | None = None) -> str:
        port = free_port()
        env = {**os.environ, **self.env, "RLHF_INFERENCE_PORT": str(port), **(extra_env or {})}
        log = open(self.scratch / "inference.log", "wb")  # noqa: SIM115 - lives as long as the server
        self.server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "services.inference.app:app",
                "--port",
                str(port),
                "--no-access-log",
            ],
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(self.url + "/health", process=self.server, name="the inference service", timeout=600)
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{(self.scratch / 'inference.log').read_text()[-3000:]}") from None
        return self.url

    def stop_inference(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            self.server.wait(30)

    def add_api_key(self, *scopes: str) -> str:
        """An API key with these scopes (stored hashed, as `rlhf api-keys add` does); shown only here."""
        from services.core.enums import ApiKeyScope
        from services.domain import api_keys

        with session_scope() as session:
            _, key = api_keys.create(session, name="benchmark", scopes=[ApiKeyScope(s) for s in scopes])
        return key

    def metric(self, name: str, queue: str) -> float:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        text = httpx.get(self.url + "/metrics", headers=headers).text
        match = re.search(rf'^{name}{{queue="{queue}"}} ([0-9.e+]+)$', text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0


class Connection:
    """One keep-alive HTTP/1.1 connection that posts JSON and reads the answer (and its Server-Timing)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str | None) -> None:
        self.reader = reader
        self.writer = writer
        self.auth = b"Authorization: Bearer %s\r\n" % token.encode() if token else b""
        self.server_timing = b""

    @classmethod
    async def open(cls, url: str, token: str | None = None) -> Connection:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer, token)

    async def post(self, path: str, payload: bytes) -> tuple[int, Any]:
        self.writer.write(
            b"POST %s HTTP/1.1\r\nHost: bench\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (path.encode(), self.auth, len(payload))
            + payload
        )
        status = int((await self.reader.readline()).split()[1])
        length = 0
        self.server_timing = b""
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"server-timing":
                self.server_timing = value.strip()
        body = await self.reader.readexactly(length)
        return status, json.loads(body)

    def close(self) -> None:
        self.writer.close()


def server_timing(header: bytes) -> dict[str, float]:
    """`queue;dur=1.2, tokenize;dur=0.3` as {"queue": 1.2, "tokenize": 0.3} (milliseconds)."""
    timings = {}
    for metric in header.decode().split(","):
        name, _, params = metric.strip().partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur":
                timings[name] = float(value)
    return timings


async def run_clients(
    url: str, path: str, payloads: list[bytes], clients: int, *, token: str | None = None
) -> dict[str, Any]:
    """`clients` connections take the payloads in order, each sending its next one when answered."""
    queue = list(reversed(payloads))
    latencies: list[float] = []
    answers: list[tuple[int, int, Any]] = []
    timings: list[dict[str, float]] = []
    connections = [await Connection.open(url, token) for _ in range(clients)]

    async def client(connection: Connection) -> None:
        while queue:
            index = len(payloads) - len(queue)
            payload = queue.pop()
            started = time.perf_counter()
            status, body = await connection.post(path, payload)
            latencies.append(time.perf_counter() - started)
            answers.append((index, status, body))
            if connection.server_timing:
                timings.append(server_timing(connection.server_timing))

    started = time.perf_counter()
    await asyncio.gather(*(client(connection) for connection in connections))
    elapsed = time.perf_counter() - started
    for connection in connections:
        connection.close()
    answers.sort(key=lambda answer: answer[0])
    return {
        "elapsed": elapsed,
        "latencies": latencies,
        "statuses": [status for _, status, _ in answers],
        "bodies": [body for _, _, body in answers],
        "server_timings": timings,
    }


def oasst_pairs(limit: int) -> list[tuple[str, str]]:
    """(prompter message, assistant reply) pairs from the OpenAssistant trees in the shared data."""
    pairs: list[tuple[str, str]] = []

    def walk(message: dict[str, Any]) -> None:
        for reply in message.get("replies", []):
            if message["role"] == "prompter" and reply["role"] == "assistant":
                pairs.append((message["text"], reply["text"]))
            walk(reply)

    with open(DATA_DIR / "oasst_en_100_ranked_trees.jsonl") as lines:
        for line in lines:
            walk(json.loads(line)["prompt"])
    return pairs[:limit]
