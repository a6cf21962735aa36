"""score_comparisons on a real worker: a reward model's margins stored per comparison and version; the jobs the
collector queues by itself for uncertainty datasets (new comparisons, a promoted reward model); `next` then
serves the least certain pair first."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.core.enums import ModelKind
from services.core.settings import get_settings
from tests.helpers.collector import AnnotatorClient, comparison_items, unique
from tests.helpers.jobs import Worker, submit, wait_for_job
from tests.helpers.tiny_models import add_version
from training_jobs.checkpoints import model_version_source
from training_jobs.reward_adapter import load_reward_scorer


def uncertainty_dataset(admin: httpx.Client, n: int) -> dict:
    dataset = admin.post("/api/v1/datasets", json={"name": unique("unc"), "sampling": "uncertainty"}).json()
    items = comparison_items(n, prefix=dataset["name"])
    ids = admin.post(f"/api/v1/datasets/{dataset['id']}/comparisons", json={"items": items}).json()["ids"]
    return dataset | {"ids": ids, "items": items}


def stored_margins(db: Session, version_id: int) -> dict[int, float]:
    db.rollback()
    rows = db.execute(
        text("SELECT comparison_id, margin FROM comparison_score WHERE model_version_id = :v"),
        {"v": version_id},
    )
    return dict(rows.tuples().all())


def test_scores_are_the_reward_models_margins_and_order_next(
    admin: httpx.Client, db: Session, worker: Worker, collector_url: str
) -> None:
    version = add_version(db, kind=ModelKind.REWARD, seed=5)
    dataset = uncertainty_dataset(admin, 12)
    job = wait_for_job(
        admin,
        submit(admin, "score_comparisons", dataset["id"], params={"reward_model_version_id": version.id}),
    )
    assert job["status"] == "succeeded", job
    assert job["metrics"]["scored"] == 12

    scorer = load_reward_scorer(model_version_source(version.id))
    prompts = [item["prompt"] for item in dataset["items"]]
    rewards_a = scorer(prompts, [item["response_a"] for item in dataset["items"]])
    rewards_b = scorer(prompts, [item["response_b"] for item in dataset["items"]])
    margins = stored_margins(db, version.id)
    assert set(margins) == set(dataset["ids"])
    for comparison_id, a, b in zip(dataset["ids"], rewards_a, rewards_b, strict=True):
        assert margins[comparison_id] == pytest.approx(abs(a - b), abs=1e-5)

    # The order: explorers (random key below the share) at random positions, the others by margin rank.
    share = get_settings().uncertainty_random_share
    rows = db.execute(
        text("SELECT id, sample_key, reward_margin FROM comparison WHERE dataset_id = :d"),
        {"d": dataset["id"]},
    ).all()
    keys = {row.id: row.reward_margin for row in rows}
    explorers = {row.id for row in rows if row.sample_key < share}
    for row in rows:
        if row.id in explorers:
            assert row.reward_margin == pytest.approx(row.sample_key / share)
    ranked = sorted(set(keys) - explorers, key=keys.__getitem__)
    assert ranked == sorted(ranked, key=margins.__getitem__)
    if ranked:
        assert keys[ranked[0]] == 0 and (len(ranked) == 1 or keys[ranked[-1]] == 1)

    created = admin.post("/api/v1/annotators", json={"name": unique("ann")}).raise_for_status().json()
    with AnnotatorClient(created, base_url=collector_url, timeout=60) as annotator:
        served = []
        for _ in range(12):
            served.append(annotator.get(f"/api/v1/datasets/{dataset['id']}/next").json()["comparison_id"])
            vote = annotator.post(f"/api/v1/comparisons/{served[-1]}/preferences", json={"choice": "a"})
            assert vote.status_code == 201, vote.text
    assert served == sorted(keys, key=lambda i: (keys[i], i))


def test_collector_queues_scoring_for_new_comparisons_and_promotions(
    admin: httpx.Client, db: Session, worker: Worker
) -> None:
    version = add_version(db, kind=ModelKind.REWARD, seed=6)
    before = db.execute(text("SELECT id FROM model_version WHERE kind = 'reward' AND promoted")).scalar()
    waiting = uncertainty_dataset(admin, 4)  # nothing to score it with this version yet
    try:
        assert admin.post(f"/api/v1/models/{version.id}/promote").status_code == 200
        dataset = uncertainty_dataset(admin, 5)
        for target in (waiting, dataset):
            jobs = admin.get("/api/v1/jobs", params={"kind": "score_comparisons"}).json()["data"]
            mine = {"reward_model_version_id": version.id}
            matching = [j for j in jobs if j["dataset_id"] == target["id"] and j["params"] == mine]
            assert len(matching) == 1
            job = matching[0]
            assert wait_for_job(admin, job["id"])["status"] == "succeeded"
            assert set(stored_margins(db, version.id)) >= set(target["ids"])
            state = admin.get(f"/api/v1/datasets/{target['id']}").json()["sampling_state"]
            assert state.startswith(f"uncertainty ({len(target['ids'])} of {len(target['ids'])} open")
        # All scored: more promotions or requests queue nothing more for them.
        assert admin.post(f"/api/v1/models/{version.id}/promote").status_code == 200
        jobs = admin.get("/api/v1/jobs", params={"kind": "score_comparisons"}).json()["data"]
        targets = (waiting["id"], dataset["id"])
        assert len([j for j in jobs if j["dataset_id"] in targets and j["params"] == mine]) == 2
    finally:
        if before is not None:
            admin.post(f"/api/v1/models/{before}/promote").raise_for_status()


def test_a_datasets_named_reward_scores_it_in_the_background(
    admin: httpx.Client, db: Session, worker: Worker
) -> None:
    name = unique("helpful")
    dataset = admin.post(
        "/api/v1/datasets", json={"name": unique("unc"), "sampling": "uncertainty", "reward": name}
    ).json()
    ids = admin.post(
        f"/api/v1/datasets/{dataset['id']}/comparisons", json={"items": comparison_items(12, prefix=name)}
    ).json()["ids"]
    version = add_version(db, kind=ModelKind.REWARD, seed=9)
    body = {"name": name, "components": [{"model_version_id": version.id, "weight": 1}]}
    assert admin.post("/api/v1/rewards", json=body).status_code == 201  # queues the scoring job
    jobs = admin.get("/api/v1/jobs", params={"kind": "score_comparisons"}).json()["data"]
    (job,) = [j for j in jobs if j["dataset_id"] == dataset["id"]]
    assert wait_for_job(admin, job["id"])["status"] == "succeeded"
    assert set(stored_margins(db, version.id)) == set(ids)
    state = admin.get(f"/api/v1/datasets/{dataset['id']}").json()["sampling_state"]
    assert state.startswith("uncertainty (12 of 12 open comparisons scored; ")
    assert f"reward {name}@v1: reward model {version.name}" in state
    first_order = sampling_keys(db, dataset["id"])

    # Another reward scores it in its own order; going back to the first re-ranks at once, with no job.
    other_name, other = unique("harmless"), add_version(db, kind=ModelKind.REWARD, seed=10)
    body = {"name": other_name, "components": [{"model_version_id": other.id, "weight": 1}]}
    assert admin.post("/api/v1/rewards", json=body).status_code == 201
    assert admin.patch(f"/api/v1/datasets/{dataset['id']}", json={"reward": other_name}).status_code == 200
    jobs = admin.get("/api/v1/jobs", params={"kind": "score_comparisons"}).json()["data"]
    (job,) = [j for j in jobs if j["dataset_id"] == dataset["id"] and j["id"] != job["id"]]
    assert wait_for_job(admin, job["id"])["status"] == "succeeded"
    assert sampling_keys(db, dataset["id"]) != first_order
    assert admin.patch(f"/api/v1/datasets/{dataset['id']}", json={"reward": name}).status_code == 200
    assert sampling_keys(db, dataset["id"]) == first_order
    jobs = admin.get("/api/v1/jobs", params={"kind": "score_comparisons"}).json()["data"]
    assert len([j for j in jobs if j["dataset_id"] == dataset["id"]]) == 2


def sampling_keys(db: Session, dataset_id: int) -> dict[int, float]:
    db.rollback()
    rows = db.execute(
        text("SELECT id, reward_margin FROM comparison WHERE dataset_id = :d ORDER BY id"), {"d": dataset_id}
    )
    return dict(rows.tuples().all())
