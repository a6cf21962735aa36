"""`rlhf datasets`, `rlhf stats`, `rlhf jobs [show|logs|cancel]`, `rlhf models [unpromote|delete]` against the
session's collector, as a user runs them (piped output: 80 columns unless told)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from sqlalchemy.orm import Session

from services.core.artifacts import version_path
from services.core.enums import ModelKind
from tests.cli.test_annotators import rlhf
from tests.helpers.collector import comparison_items, unique
from tests.helpers.jobs import wait_for_job
from tests.helpers.tiny_models import add_version


def rlhf_80(collector_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI piped, as in `rlhf jobs | less`: Rich would lay it out in 80 columns."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**os.environ, "RLHF_COLLECTOR_URL": collector_url, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_datasets_create_list_show_stats_delete(collector_url: str, admin: httpx.Client) -> None:
    name = unique("cli-datasets")
    created = rlhf(
        collector_url, "datasets", "create", name, "--guidelines", "Be kind [really].", "--annotations", "2",
        "--gold-rate", "0.1", "--sampling", "random",
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    dataset = next(d for d in admin.get("/api/v1/datasets").json()["data"] if d["name"] == name)
    assert dataset["annotations_per_comparison"] == 2 and dataset["guidelines"] == "Be kind [really]."
    assert dataset["gold_rate"] == 0.1 and dataset["sampling"] == "random"
    bad_rate = rlhf(collector_url, "datasets", "create", unique("cli-bad"), "--gold-rate", "1.5")
    assert bad_rate.returncode == 2 and "gold-rate" in bad_rate.stdout + bad_rate.stderr
    prompts = rlhf(collector_url, "datasets", "create", unique("cli-prompts"), "--kind", "prompt")
    assert prompts.returncode == 0 and "created prompt dataset" in prompts.stdout
    ids = admin.post(
        f"/api/v1/datasets/{dataset['id']}/comparisons", json={"items": comparison_items(3)}
    ).json()["ids"]

    row = next(line for line in rlhf(collector_url, "datasets").stdout.splitlines() if name in line)
    assert row.split("│")[3].strip() == "preference" and row.split("│")[5].strip() == "3"
    shown = rlhf(collector_url, "datasets", "show", str(dataset["id"]))
    assert name in shown.stdout and "Be kind [really]." in shown.stdout and "3 open" in shown.stdout
    assert "gold rate: 0.1; sampling: random" in shown.stdout and "reward: default" in shown.stdout

    reward = unique("cli-reward")
    changed = rlhf(collector_url, "datasets", "set", name, "--sampling", "uncertainty", "--reward", reward)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert f"sampling: sequential (the dataset's reward {reward!r} does not exist)" in changed.stdout
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").json()["reward"] == reward
    back = rlhf(collector_url, "datasets", "set", name, "--reward", "default", "--sampling", "random")
    assert back.returncode == 0 and "sampling: random" in back.stdout
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").json()["reward"] is None
    assert rlhf(collector_url, "datasets", "set", name).returncode == 1
    edited = rlhf(collector_url, "datasets", "set", name, "--guidelines", "Read twice.", "--annotations", "3")
    assert edited.returncode == 0 and "annotations per comparison: 3" in edited.stdout
    after = admin.get(f"/api/v1/datasets/{dataset['id']}").json()
    assert after["guidelines"] == "Read twice." and after["annotations_per_comparison"] == 3

    token = admin.post("/api/v1/annotators", json={"name": unique("cli-voter")}).json()["token"]
    httpx.post(
        f"{collector_url}/api/v1/comparisons/{ids[0]}/preferences",
        headers={"Authorization": f"Bearer {token}"},
        json={"choice": "b"},
    ).raise_for_status()
    for which in (name, str(dataset["id"])):
        stats = rlhf(collector_url, "stats", which)
        assert stats.returncode == 0, stats.stdout + stats.stderr
        assert "votes: 1" in stats.stdout and "b 1" in stats.stdout and "agreement" in stats.stdout

    declined = rlhf(collector_url, "datasets", "delete", name, input="n\n")
    assert declined.returncode == 1 and "3 comparisons" in declined.stdout
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").status_code == 200
    deleted = rlhf(collector_url, "datasets", "delete", name, input="y\n")
    assert deleted.returncode == 0 and "deleted dataset" in deleted.stdout
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").status_code == 404
    missing = rlhf(collector_url, "stats", name)
    assert missing.returncode == 1 and "no dataset" in missing.stdout


def test_jobs_table_show_logs_cancel_and_a_refused_delete(collector_url: str, admin: httpx.Client) -> None:
    name = unique("a-dataset-name-long-enough-to-squeeze-a-table")
    dataset = admin.post("/api/v1/datasets", json={"name": name}).json()
    queued = admin.post(
        "/api/v1/jobs", json={"kind": "reward_model", "dataset_id": dataset["id"], "params": {"seed": 7}}
    )
    job_id = queued.json()["id"]

    listed = rlhf_80(collector_url, "jobs", "--limit", "5")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    row = next(line for line in listed.stdout.splitlines() if f"│ {job_id} " in line)
    assert name in row and "reward_model" in row  # whole cells, however narrow the terminal
    assert "ETA" in listed.stdout

    shown = rlhf(collector_url, "jobs", "show", str(job_id))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"job {job_id}" in shown.stdout and name in shown.stdout and '"seed": 7' in shown.stdout
    logs = rlhf(collector_url, "jobs", "logs", str(job_id))
    assert logs.returncode == 0

    refused = rlhf(collector_url, "datasets", "delete", name, "--yes")
    assert refused.returncode == 1 and f"job(s) {job_id}" in refused.stdout and "DELETE" in refused.stdout

    cancelled = rlhf(collector_url, "jobs", "cancel", str(job_id))
    assert cancelled.returncode == 0 and f"job {job_id}" in cancelled.stdout
    wait_for_job(admin, job_id)
    again = rlhf(collector_url, "jobs", "cancel", str(job_id))
    assert again.returncode == 1 and "already" in again.stdout
    assert rlhf(collector_url, "datasets", "delete", name, "--yes").returncode == 0


def test_models_unpromote_and_delete(collector_url: str, admin: httpx.Client, db: Session) -> None:
    version = add_version(db, kind=ModelKind.POLICY, seed=4)
    admin.post(f"/api/v1/models/{version.id}/promote").raise_for_status()

    refused = rlhf(collector_url, "models", "delete", str(version.id), "--yes")
    assert refused.returncode == 1 and "promoted" in refused.stdout
    unpromoted = rlhf(collector_url, "models", "unpromote", str(version.id))
    assert unpromoted.returncode == 0 and "default policy" in unpromoted.stdout
    assert admin.get(f"/api/v1/models/{version.id}").json()["promoted"] is False

    deleted = rlhf(collector_url, "models", "delete", str(version.id), "--yes")
    assert deleted.returncode == 0 and f"deleted {version.name}" in deleted.stdout
    assert not version_path(version.path).exists()


def test_models_prune_deletes_the_older_unpromoted_versions(collector_url: str, db: Session) -> None:
    versions = [add_version(db, kind=ModelKind.REWARD, seed=seed) for seed in (7, 8, 9)]
    base = unique("prune-base")
    for version in versions:
        version.base_model = base
    db.commit()

    declined = rlhf(collector_url, "models", "prune", "--keep", "1", "--base-model", base, input="n\n")
    assert declined.returncode == 1 and all(version_path(v.path).is_dir() for v in versions)
    pruned = rlhf(collector_url, "models", "prune", "--keep", "1", "--base-model", base, "--yes")

    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert "2 deleted, 0 kept past the limit" in pruned.stdout
    assert f"deleted {versions[0].name}" in pruned.stdout and f"deleted {versions[1].name}" in pruned.stdout
    assert [version_path(v.path).is_dir() for v in versions] == [False, False, True]
