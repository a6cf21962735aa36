"""`rlhf up` heals: each of its processes and embedded servers, killed with SIGKILL, comes back while the others
keep answering; one that keeps dying is given up on and reported, and the rest keep serving."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from services.core.net import free_port
from tests.helpers.tiny_models import build_tiny_gpt2
from tests.stack.up_process import (
    child_pid,
    interrupt,
    postmaster_pid,
    redis_server_pid,
    start_up,
    wait_for_banner,
    wait_for_log,
    wait_for_new_child,
)

CHILDREN = ("collector", "worker", "inference")


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The inference service's default policy is built on first use (minutes); a tiny one keeps this fast.
    return build_tiny_gpt2(tmp_path_factory.mktemp("policy"), seed=0)


@pytest.fixture
def stopped_at_end() -> Iterator[list[subprocess.Popen[bytes]]]:
    """`rlhf up` processes to stop if a test fails halfway (SIGINT: a SIGKILL would orphan its children)."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for up in started:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            up.wait(60)


def eventually(check: Callable[[], bool], *, timeout: float = 30.0, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{what}: not within {timeout}s")


def test_up_restarts_each_killed_part_while_the_others_keep_answering(
    tmp_path: Path, tiny_policy: Path, stopped_at_end: list[subprocess.Popen[bytes]]
) -> None:
    state_dir, port, inference_port = tmp_path / "state", free_port(), free_port()
    log = tmp_path / "up.log"
    up = start_up(
        state_dir,
        port,
        log,
        args=["--demo"],
        env={
            "RLHF_INFERENCE_PORT": str(inference_port),
            "RLHF_POLICY_MODEL": str(tiny_policy),
            "RLHF_INFERENCE_TORCH_THREADS": "1",
            "RLHF_WATCHDOG_INTERVAL_SECONDS": "1",
            "RLHF_JOB_REQUEUE_AFTER_SECONDS": "2",
        },
    )
    stopped_at_end.append(up)
    wait_for_banner(up, log, timeout=180)
    wait_for_log(up, log, "ready.", timeout=120)  # the worker consumes
    token = (state_dir / "demo_annotator_token").read_text().strip()
    admin_token = (state_dir / "admin_token").read_text().strip()
    annotator = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    admin = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {admin_token}"}, timeout=10
    )
    inference = httpx.Client(base_url=f"http://127.0.0.1:{inference_port}", timeout=30)

    def collector_answers() -> bool:
        return annotator.get("/api/v1/me").status_code == 200

    def inference_answers() -> bool:
        body = {"inputs": "The river", "parameters": {"max_new_tokens": 2}}
        return inference.post("/generate", json=body).status_code == 200

    answers = {"collector": collector_answers, "inference": inference_answers}
    pids = {name: child_pid(up, name) for name in CHILDREN}
    for name in CHILDREN:
        os.kill(pids[name] or 0, signal.SIGKILL)
        for other, check in answers.items():
            if other != name:
                assert check(), f"{other} stopped answering while {name} was down"
        pids[name] = wait_for_new_child(up, name, old=pids[name])
        wait_for_log(up, log, f"{name:>9} | serving again", timeout=60)
        if name in answers:
            assert answers[name]()
        assert {other: child_pid(up, other) for other in CHILDREN} == pids  # nothing else restarted

    # PostgreSQL: requests fail retryably (503) while it is down, then the same collector serves again.
    os.kill(postmaster_pid(state_dir), signal.SIGKILL)
    wait_for_log(up, log, " postgres | serving again", timeout=60)
    eventually(collector_answers, what="the collector after a PostgreSQL restart")

    # Redis: the restarted broker keeps its socket, so the collector's enqueue and the worker find it.
    os.kill(redis_server_pid(state_dir), signal.SIGKILL)
    wait_for_log(up, log, "    redis | serving again", timeout=60)
    demo_id = next(d["id"] for d in annotator.get("/api/v1/me").json()["datasets"] if d["name"] == "demo")
    job = admin.post(
        "/api/v1/jobs",
        json={"kind": "sft", "dataset_id": demo_id, "base_model": str(tmp_path / "no-such-model")},
    )
    assert job.status_code == 202, job.text
    eventually(
        lambda: admin.get(f"/api/v1/jobs/{job.json()['id']}").json()["status"] == "failed",
        timeout=60,
        what="the worker taking a job after the Redis restart",
    )
    assert {name: child_pid(up, name) for name in CHILDREN} == pids

    assert interrupt(up) == 0
    for name in CHILDREN:
        assert f"{name:>9} | restarted (restart 1)" in log.read_text()


def test_up_gives_up_on_a_part_that_keeps_dying_and_the_rest_keep_serving(
    tmp_path: Path, stopped_at_end: list[subprocess.Popen[bytes]]
) -> None:
    state_dir, port = tmp_path / "state", free_port()
    log = tmp_path / "up.log"
    up = start_up(
        state_dir,
        port,
        log,
        args=["--demo", "--no-inference"],
        env={
            "RLHF_RESTART_BACKOFF_SECONDS": "0.2",
            "RLHF_RESTART_MAX_FAST_FAILURES": "3",
            "RLHF_RESTART_MIN_UPTIME_SECONDS": "600",
        },
    )
    stopped_at_end.append(up)
    wait_for_banner(up, log)
    token = (state_dir / "demo_annotator_token").read_text().strip()

    worker = child_pid(up, "worker")
    for death in range(3):
        os.kill(worker or 0, signal.SIGKILL)
        if death < 2:
            worker = wait_for_new_child(up, "worker", old=worker)
    text = wait_for_log(up, log, "worker gave up", timeout=30)
    assert "3 fast failures in a row" in text

    time.sleep(1.0)
    assert child_pid(up, "worker") is None  # left down
    me = httpx.get(f"http://127.0.0.1:{port}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert interrupt(up) == 1
    assert "given up on while running: worker" in log.read_text()
