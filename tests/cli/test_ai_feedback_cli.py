"""`rlhf stats --source` and `rlhf export --source` on a dataset with an AI judge's preferences beside a person's
imported ones."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from services.domain import ai_preferences
from services.domain.ai_preferences import AiVerdict
from tests.helpers.cli import rlhf
from tests.helpers.collector import unique


def test_stats_and_export_take_a_source(
    collector_url: str, admin: httpx.Client, db: Session, tmp_path: Path
) -> None:
    name = unique("judged")
    rows = [{"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(4)]
    body = "".join(json.dumps(row) + "\n" for row in rows).encode()
    imported = admin.post(
        "/api/v1/datasets/import",
        params={"name": name, "format": "trl", "with_preferences": "true"},
        content=body,
    ).json()
    people = admin.get(
        f"/api/v1/datasets/{imported['dataset_id']}/export", params={"format": "raw"}
    ).text.splitlines()
    judge = ai_preferences.ai_annotator(db, "ai:cli-judge")
    verdicts: list[AiVerdict] = []
    for line in map(json.loads, people):  # the judge agrees with people on the first three only
        agree = line["response_a"].startswith("good") != (len(verdicts) == 3)
        verdicts.append(AiVerdict(line["comparison_id"], "a" if agree else "b", "r", {"job_id": 0}))
    ai_preferences.store(db, judge, verdicts)

    shown = rlhf(collector_url, "stats", name)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "ai:cli-judge" in shown.stdout and "75.0%" in shown.stdout  # 3 of 4 agree
    ai = rlhf(collector_url, "stats", name, "--source", "ai")
    assert ai.returncode == 0, ai.stdout + ai.stderr
    said_a = sum(verdict.choice == "a" for verdict in verdicts)
    assert f"choices: a {said_a}, b {4 - said_a}," in ai.stdout  # the judge's four preferences

    out = tmp_path / "ai.jsonl"
    written = rlhf(collector_url, "export", name, "--format", "raw", "--source", "ai", "-o", str(out))
    assert written.returncode == 0, written.stdout + written.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["source"] for line in lines] == ["ai"] * 4
    refused = rlhf(collector_url, "export", name, "--format", "raw", "--source", "robots", "-o", str(out))
    assert refused.returncode != 0
