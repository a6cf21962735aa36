"""`rlhf rewards [list|show|create]` against the session's collector: versions, components, the default, and the
server's own message when it refuses a reward."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from services.core.enums import ModelKind
from tests.helpers.cli import rlhf
from tests.helpers.collector import unique
from tests.helpers.tiny_models import add_version


def test_rewards_create_list_show(
    collector_url: str, admin: httpx.Client, db: Session, tmp_path: Path
) -> None:
    version = add_version(db, kind=ModelKind.REWARD, seed=11)
    name = unique("cli-reward")
    components = [
        {"model_version_id": version.id, "weight": 1.0, "whiten": {"mean": 0.5, "std": 2.0}},
        {"function": "length", "target": 60, "weight": 0.1},
    ]
    created = rlhf(collector_url, "rewards", "create", name, "--components", json.dumps(components))
    assert created.returncode == 0, created.stdout + created.stderr
    assert f"created reward '{name}' version 1" in created.stdout
    assert (
        f"1×model {version.id} whitened(0.5, 2)" in created.stdout
        and "0.1×length(target=60)" in created.stdout
    )

    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"components": [{"function": "rougeL", "weight": 2.0}]}))
    again = rlhf(collector_url, "rewards", "create", name, "--file", str(spec))
    assert again.returncode == 0 and f"created reward '{name}' version 2" in again.stdout, again.stdout
    stored = admin.get("/api/v1/rewards", params={"name": name}).json()
    assert [reward["version"] for reward in stored["data"]] == [2, 1]
    assert stored["data"][1]["components"] == components

    rows = [line for line in rlhf(collector_url, "rewards").stdout.splitlines() if name in line]
    assert len(rows) == 2 and "2×rougeL" in rows[0] and "1 (old)" in rows[1]
    listed = rlhf(collector_url, "rewards", "list")
    default = admin.get("/api/v1/rewards").json()["default"]
    assert f"default: {default or '(none'}" in listed.stdout

    shown = rlhf(collector_url, "rewards", "show", name)
    assert (
        shown.returncode == 0 and f"{name} version 2" in shown.stdout and f"{name} version 1" in shown.stdout
    )
    assert '"target": 60' in shown.stdout
    missing = rlhf(collector_url, "rewards", "show", unique("no-such-reward"))
    assert missing.returncode == 1 and "no reward named" in missing.stdout


def test_rewards_create_refusals_print_the_servers_message(
    collector_url: str, admin: httpx.Client, db: Session, tmp_path: Path
) -> None:
    policy = add_version(db, kind=ModelKind.POLICY, seed=12)
    name = unique("cli-refused")
    refused = rlhf(
        collector_url,
        "rewards",
        "create",
        name,
        "--components",
        json.dumps([{"model_version_id": policy.id}]),
    )
    assert refused.returncode == 1
    assert "is a policy model, not a reward model" in refused.stdout and "POST" in refused.stdout
    gate = rlhf(
        collector_url, "rewards", "create", name, "--components", '[{"function": "rouge1"}]',
        "--safety-gate", '{"safety": 0, "helpfulness": 0, "threshold": 0}',
    )  # fmt: skip
    assert gate.returncode == 1 and "must be different components" in gate.stdout
    not_json = rlhf(collector_url, "rewards", "create", name, "--components", "[{")
    assert not_json.returncode == 1 and "--components is not JSON" in not_json.stdout
    assert rlhf(collector_url, "rewards", "create", name).returncode == 1
    spec = tmp_path / "other.json"
    spec.write_text(json.dumps({"name": "other", "components": [{"function": "bleu"}]}))
    renamed = rlhf(collector_url, "rewards", "create", name, "--file", str(spec))
    assert renamed.returncode == 1 and "names the reward 'other'" in renamed.stdout
    assert admin.get("/api/v1/rewards", params={"name": name}).json()["count"] == 0
