"""AI preferences (services/domain/ai_preferences.py) beside people's votes on the same comparisons: people's
queue, majority and trust ignore them; export and stats read them only when asked (`source=ai|all`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy.orm import Session

from services.domain import ai_preferences
from services.domain.ai_preferences import AiVerdict


def exported(
    admin: httpx.Client, dataset_id: int, fmt: str, source: str | None = None
) -> list[dict[str, Any]]:
    params = {"format": fmt} | ({"source": source} if source else {})
    response = admin.get(f"/api/v1/datasets/{dataset_id}/export", params=params)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def test_ai_preferences_stay_out_of_the_human_queue_and_counts(
    make_dataset: Callable[..., dict[str, Any]],
    make_annotator: Callable[..., Any],
    admin: httpx.Client,
    db: Session,
) -> None:
    dataset = make_dataset(3, k=1)
    first, second, third = dataset["ids"]
    judge = ai_preferences.ai_annotator(db, "ai:test-judge")
    assert ai_preferences.ai_annotator(db, "ai:test-judge") == judge  # one row per name
    verdicts = [
        AiVerdict(comparison_id=cid, choice="b", rationale="b is kinder", metadata={"job_id": 0})
        for cid in (first, second, third)
    ]
    assert ai_preferences.store(db, judge, verdicts) == 3
    assert ai_preferences.store(db, judge, verdicts[:1]) == 0  # once per judge and comparison

    # The person is served all three comparisons (k = 1: the judge filled no slot) and disagrees on two.
    person, other = make_annotator(), make_annotator()
    served = []
    while (response := person.get(f"/api/v1/datasets/{dataset['id']}/next")).status_code == 200:
        cid = response.json()["comparison_id"]
        served.append(cid)
        person.post(f"/api/v1/comparisons/{cid}/preferences", json={"choice": "b" if cid == first else "a"})
    assert sorted(served) == sorted(dataset["ids"])
    assert other.get(f"/api/v1/datasets/{dataset['id']}/next").status_code == 204  # k filled by people

    # Exports: people's by default, the judge's or both when asked.
    assert {(row["prompt"], row["chosen"]) for row in exported(admin, dataset["id"], "trl")} == {
        (row["prompt"], row["response_b" if row["comparison_id"] == first else "response_a"])
        for row in exported(admin, dataset["id"], "raw")
    }
    ai_rows = exported(admin, dataset["id"], "raw", "ai")
    assert [(row["source"], row["choice"], row["rationale"]) for row in ai_rows] == [
        ("ai", "b", "b is kinder")
    ] * 3
    assert len(exported(admin, dataset["id"], "raw", "all")) == 6
    # With both sources, the two comparisons people and judge disagree on have no majority: only one pair.
    assert len(exported(admin, dataset["id"], "trl", "all")) == 1

    # Stats: choices and annotators follow `source`; the queue's counts are people's.
    stats = admin.get(f"/api/v1/datasets/{dataset['id']}/stats").json()
    assert (stats["votes"], stats["complete"], stats["choices"]["b"]) == (3, 3, 1)
    assert [a["annotator_id"] for a in stats["annotators"]] == [person.annotator["id"]]
    ai_stats = admin.get(f"/api/v1/datasets/{dataset['id']}/stats", params={"source": "ai"}).json()
    assert (ai_stats["source"], ai_stats["choices"]["b"], ai_stats["votes"]) == ("ai", 3, 3)
    (agreement,) = stats["ai_agreement"]
    assert (agreement["name"], agreement["comparisons"], agreement["agreed"]) == ("ai:test-judge", 3, 1)
    assert agreement["agreement"] == 1 / 3
    # Cohen's kappa: the judge said b three times (p_e = 1 · 1/3): (1/3 − 1/3) / (1 − 1/3) = 0.
    assert agreement["cohen_kappa"] == 0.0

    # Quality: the judge is no annotator; the person's majority agreement ignores it (no other person voted).
    quality = admin.get(f"/api/v1/datasets/{dataset['id']}/annotators").json()["data"]
    assert [(q["annotator_id"], q["majority_shared"]) for q in quality] == [(person.annotator["id"], 0)]
    names = [a["name"] for a in admin.get("/api/v1/annotators").json()["data"]]
    assert "ai:test-judge" not in names
