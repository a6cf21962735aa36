"""Training data by trust: `min_trust` leaves out the votes of annotators trusted less (docs/quality.md); gold
items are never training pairs. Real votes through the HTTP API, read by the worker's data layer."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers.collector import AnnotatorClient, comparison_items, unique
from training_jobs import data
from training_jobs.context import JobInputError

GOLD_ITEMS = 9  # one fewer than RLHF_GOLD_MIN_ANSWERS: the careless annotator is not paused, only distrusted


def answer_all(
    client: AnnotatorClient, dataset_id: int, gold: dict[int, str], *, right: bool, ordinary: str
) -> None:
    while (response := client.get(f"/api/v1/datasets/{dataset_id}/next")).status_code == 200:
        comparison_id = response.json()["comparison_id"]
        if comparison_id in gold:
            choice = gold[comparison_id] if right else ("b" if gold[comparison_id] == "a" else "a")
        else:
            choice = ordinary
        vote = client.post(f"/api/v1/comparisons/{comparison_id}/preferences", json={"choice": choice})
        assert vote.status_code == 201, vote.text


def test_min_trust_decides_what_a_job_trains_on(admin: httpx.Client, collector_url: str) -> None:
    dataset = admin.post(
        "/api/v1/datasets", json={"name": unique("trust"), "annotations_per_comparison": 2, "gold_rate": 1.0}
    ).json()
    ordinary = comparison_items(6, prefix=dataset["name"])
    gold_items = [
        item | {"gold": "a"} for item in comparison_items(GOLD_ITEMS, prefix=f"{dataset['name']}-gold")
    ]
    url = f"/api/v1/datasets/{dataset['id']}/comparisons"
    admin.post(url, json={"items": ordinary}).raise_for_status()
    gold = dict.fromkeys(admin.post(url, json={"items": gold_items}).json()["ids"], "a")
    people = []
    for right, choice in ((False, "b"), (True, "a")):
        created = admin.post("/api/v1/annotators", json={"name": unique("ann")}).raise_for_status().json()
        with AnnotatorClient(created, base_url=collector_url, timeout=60) as client:
            answer_all(client, dataset["id"], gold, right=right, ordinary=choice)
        people.append(created["id"])

    trust = {
        q["annotator_id"]: q["trust"]
        for q in admin.get(f"/api/v1/datasets/{dataset['id']}/annotators").json()["data"]
    }
    careless, careful = people
    assert trust[careless] < 0.5 < trust[careful]

    # Every vote: one a and one b per comparison, no majority, nothing to train on; gold items never count.
    with pytest.raises(JobInputError, match="no decided comparisons"):
        data.preference_pairs(dataset["id"])
    pairs = data.preference_pairs(dataset["id"], min_trust=0.5).pairs
    assert sorted(p["chosen"] for p in pairs) == sorted(item["response_a"] for item in ordinary)


def test_min_trust_is_a_param_of_the_kinds_that_train_on_votes(admin: httpx.Client) -> None:
    kinds = {
        k["kind"]: {p["name"] for p in k["params"]} for k in admin.get("/api/v1/job-kinds").json()["data"]
    }
    assert all("min_trust" in kinds[kind] for kind in ("reward_model", "sft", "dpo"))
    assert not any("min_trust" in kinds[kind] for kind in ("ppo", "rloo", "generate_comparisons"))
    dataset = admin.post("/api/v1/datasets", json={"name": unique("trust")}).json()
    for value in (-0.1, 1.5, "high"):
        response = admin.post(
            "/api/v1/jobs",
            json={"kind": "reward_model", "dataset_id": dataset["id"], "params": {"min_trust": value}},
        )
        assert response.status_code == 422, value
