"""`rlhf up` as a newcomer runs it: no RLHF_DATABASE_URL / RLHF_REDIS_URL, so embedded PostgreSQL and Redis
in the state directory; Ctrl-C stops everything; data survives a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from services.core.net import free_port
from tests.helpers.paths import REPO_ROOT


def start_up(state_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RLHF_")}
    env.update({"RLHF_STATE_DIR": str(state_dir), "RLHF_COLLECTOR_PORT": str(port), "COLUMNS": "200"})
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--demo", "--no-worker", "--no-inference"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def wait_for_banner(process: subprocess.Popen[bytes], log: Path, *, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "RLHF platform is up" in text:
            return text
        if process.poll() is not None:
            pytest.fail(f"rlhf up exited with {process.returncode}:\n{text}")
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"no banner after {timeout}s:\n{log.read_text(errors='replace')}")


def interrupt(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(60)


def embedded_postgres_running(state_dir: Path) -> bool:
    data_dir = str(state_dir / "postgres")
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and data_dir in " ".join(proc.info["cmdline"] or []):
            return True
    return False


def test_up_demo_on_embedded_servers_serves_the_demo_and_survives_restart(tmp_path: Path) -> None:
    state_dir, port = tmp_path / "state", free_port()
    url = f"http://127.0.0.1:{port}"

    process = start_up(state_dir, port, tmp_path / "first.log")
    banner = wait_for_banner(process, tmp_path / "first.log")
    token = (state_dir / "demo_annotator_token").read_text().strip()
    admin_token = (state_dir / "admin_token").read_text().strip()
    assert f"{url}/annotate?token={token}" in banner
    assert admin_token in banner

    me = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    demo = next(entry for entry in me["datasets"] if entry["name"] == "demo")
    assert demo["remaining"] >= 50
    first = httpx.get(
        f"{url}/api/v1/datasets/{demo['id']}/next", headers={"Authorization": f"Bearer {token}"}
    )
    vote = httpx.post(
        f"{url}/api/v1/comparisons/{first.json()['comparison_id']}/preferences",
        headers={"Authorization": f"Bearer {token}"},
        json={"choice": "a"},
    )
    assert vote.status_code == 201
    assert httpx.get(f"{url}/annotate").status_code == 200

    assert interrupt(process) == 0
    assert not embedded_postgres_running(state_dir)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health")

    process = start_up(state_dir, port, tmp_path / "second.log")
    wait_for_banner(process, tmp_path / "second.log")
    try:
        assert (state_dir / "demo_annotator_token").read_text().strip() == token
        datasets = httpx.get(
            f"{url}/api/v1/datasets", headers={"Authorization": f"Bearer {admin_token}"}
        ).json()
        names = [entry["name"] for entry in datasets["data"]]
        assert names.count("demo") == 1
        me = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
        demo_after = next(entry for entry in me["datasets"] if entry["name"] == "demo")
        assert demo_after["done_by_me"] == 1
    finally:
        assert interrupt(process) == 0
