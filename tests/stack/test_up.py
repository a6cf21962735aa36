"""`rlhf up` as a newcomer runs it: no RLHF_DATABASE_URL / RLHF_REDIS_URL, so embedded PostgreSQL and Redis
in the state directory; Ctrl-C stops everything; data survives a restart."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from services.core.net import free_port
from services.domain.demo import DEMO_ANSWERS_FILE
from tests.stack.up_process import embedded_postgres_running, interrupt, start_up, wait_for_banner

UP_ARGS = ["--demo", "--no-worker", "--no-inference"]


def test_up_demo_on_embedded_servers_serves_the_demo_and_survives_restart(tmp_path: Path) -> None:
    state_dir, port = tmp_path / "state", free_port()
    url = f"http://127.0.0.1:{port}"

    process = start_up(state_dir, port, tmp_path / "first.log", args=UP_ARGS)
    banner = wait_for_banner(process, tmp_path / "first.log")
    token = (state_dir / "demo_annotator_token").read_text().strip()
    admin_token = (state_dir / "admin_token").read_text().strip()
    assert f"{url}/annotate?token={token}" in banner
    assert admin_token in banner and f"{url}/admin" in banner

    me = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    demo = next(entry for entry in me["datasets"] if entry["name"] == "demo")
    assert demo["remaining"] == len(DEMO_ANSWERS_FILE.read_text().splitlines())  # SmolLM2's answers, unjudged
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

    process = start_up(state_dir, port, tmp_path / "second.log", args=UP_ARGS)
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
