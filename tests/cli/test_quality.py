"""`rlhf gold`, `rlhf annotators quality` and `unpause`, `rlhf export --min-trust`, against the session's collector."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.helpers.cli import rlhf
from tests.helpers.collector import comparison_items, unique


def test_gold_quality_unpause_and_export_by_trust(
    collector_url: str, admin: httpx.Client, tmp_path: Path
) -> None:
    dataset = admin.post("/api/v1/datasets", json={"name": unique("cli-q"), "gold_rate": 1.0}).json()
    url = f"/api/v1/datasets/{dataset['id']}/comparisons"
    work = admin.post(url, json={"items": comparison_items(3)}).json()["ids"]
    gold = admin.post(url, json={"items": comparison_items(10)}).json()["ids"]
    for comparison_id in gold:
        marked = rlhf(collector_url, "gold", str(comparison_id), "a")
        assert marked.returncode == 0 and f"comparison {comparison_id} is gold, answer a" in marked.stdout
    refused = rlhf(collector_url, "gold", str(work[0]), "skip")
    assert refused.returncode != 0 and "a, b, tie or none" in refused.stdout + refused.stderr

    created = admin.post("/api/v1/annotators", json={"name": unique("cli-careless")}).json()
    with httpx.Client(
        base_url=collector_url, headers={"Authorization": f"Bearer {created['token']}"}
    ) as client:
        while (answer := client.get(f"/api/v1/datasets/{dataset['id']}/next")).status_code == 200:
            comparison_id = answer.json()["comparison_id"]
            client.post(
                f"/api/v1/comparisons/{comparison_id}/preferences", json={"choice": "b"}
            ).raise_for_status()
        assert answer.status_code == 403

    shown = rlhf(collector_url, "annotators", "quality", dataset["name"])
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if created["name"] in line)
    assert "0/10" in row and "paused" in row
    assert "ask the admin to lift the pause" in shown.stdout

    out = tmp_path / "raw.jsonl"
    exported = rlhf(
        collector_url, "export", dataset["name"], "--format", "raw", "--include-gold", "-o", str(out)
    )
    assert exported.returncode == 0, exported.stderr
    assert {json.loads(line)["annotator_id"] for line in out.read_text().splitlines()} == {created["id"]}
    exported = rlhf(
        collector_url, "export", dataset["name"], "--format", "raw", "--min-trust", "0.5", "-o", str(out)
    )
    assert exported.returncode == 0 and out.read_text() == ""

    lifted = rlhf(collector_url, "annotators", "unpause", created["name"], "--dataset", dataset["name"])
    assert lifted.returncode == 0 and "may work on" in lifted.stdout
    again = rlhf(collector_url, "annotators", "unpause", created["name"], "--dataset", dataset["name"])
    assert again.returncode != 0 and "not paused" in again.stdout + again.stderr
