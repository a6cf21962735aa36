"""Gold items, annotator trust and pauses, with real votes through the HTTP API (docs/quality.md)."""

from __future__ import annotations

import io
import json
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import pyarrow.parquet as pq
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.core.enums import ModelKind
from tests.helpers.collector import AnnotatorClient, comparison_items, table_counts, unique
from tests.helpers.tiny_models import add_version

GOLD_ITEMS = 40
ORDINARY_ITEMS = 30


def gold_dataset(make_dataset: Callable, admin: httpx.Client, *, k: int = 2, **fields: Any) -> dict[str, Any]:
    """A dataset of ordinary items and gold items whose answers cycle through a, b, a, b, tie."""
    dataset = make_dataset(ORDINARY_ITEMS, k=k, **fields)
    answers = ["a", "b", "a", "b", "tie"]
    items = [
        item | {"gold": answers[i % len(answers)]}
        for i, item in enumerate(comparison_items(GOLD_ITEMS, prefix=f"{dataset['name']}-gold"))
    ]
    response = admin.post(f"/api/v1/datasets/{dataset['id']}/comparisons", json={"items": items})
    gold_ids = response.raise_for_status().json()["ids"]
    return dataset | {"gold": dict(zip(gold_ids, [item["gold"] for item in items], strict=True))}


def work(
    client: AnnotatorClient, dataset_id: int, answer: Callable[[int], str], *, seconds: float = 0.0
) -> tuple[list[int], httpx.Response]:
    """next + vote until `next` answers anything but 200; the comparisons voted on, and that last answer.
    The side shown on the left is drawn at random, as the form does."""
    sides = random.Random(dataset_id)
    voted: list[int] = []
    while True:
        response = client.get(f"/api/v1/datasets/{dataset_id}/next")
        if response.status_code != 200:
            return voted, response
        comparison_id = response.json()["comparison_id"]
        time.sleep(seconds)
        vote = client.post(
            f"/api/v1/comparisons/{comparison_id}/preferences",
            json={"choice": answer(comparison_id), "shown_left": sides.choice("ab")},
        )
        assert vote.status_code == 201, vote.text
        voted.append(comparison_id)


def export_lines(admin: httpx.Client, dataset_id: int, **params: Any) -> list[dict[str, Any]]:
    response = admin.get(f"/api/v1/datasets/{dataset_id}/export", params=params)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def test_careless_annotator_is_paused_careful_one_never(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client, db: Session
) -> None:
    dataset = gold_dataset(make_dataset, admin, gold_rate=0.5)
    gold = dataset["gold"]
    rng = random.Random(7)
    careless, careful = make_annotator(), make_annotator()

    # Random clicks, as fast as the server answers: paused within 30 gold answers (the defaults).
    careless_votes, refused = work(careless, dataset["id"], lambda _: rng.choice(["a", "b", "tie"]))
    assert refused.status_code == 403
    assert "paused" in refused.json()["detail"]
    gold_answers = [c for c in careless_votes if c in gold]
    assert 10 <= len(gold_answers) <= 30
    assert len(set(careless_votes)) == len(careless_votes)
    # Their votes stay; voting on is refused too.
    stored = db.execute(
        text("SELECT count(*) FROM preference WHERE annotator_id = :a"), {"a": careless.annotator["id"]}
    ).scalar_one()
    assert stored == len(careless_votes)
    other = next(c for c in dataset["ids"] if c not in careless_votes)
    refused_vote = careless.post(f"/api/v1/comparisons/{other}/preferences", json={"choice": "a"})
    assert refused_vote.status_code == 403 and "paused" in refused_vote.json()["detail"]

    # Right on every gold item, "a" on the others, taking its time: never paused, sees every ordinary item
    # once, and gold items among them (none once the ordinary work is done: alone, they would stand out).
    careful_votes, done = work(careful, dataset["id"], lambda c: gold.get(c, "a"), seconds=0.25)
    assert done.status_code == 204
    careful_gold = [c for c in careful_votes if c in gold]
    assert sorted(set(careful_votes) - set(gold)) == dataset["ids"]
    assert len(set(careful_gold)) == len(careful_gold) >= 10

    # Gold items stand outside k: answered by both, never complete; the counts leave them out.
    progress = admin.get(f"/api/v1/datasets/{dataset['id']}").json()
    assert progress["gold"] == GOLD_ITEMS and progress["comparisons"] == ORDINARY_ITEMS
    open_gold = db.execute(
        text(
            "SELECT count(*) FROM comparison WHERE dataset_id = :d AND gold IS NOT NULL AND NOT is_complete"
        ),
        {"d": dataset["id"]},
    ).scalar_one()
    assert open_gold == GOLD_ITEMS

    quality = {
        q["annotator_id"]: q for q in admin.get(f"/api/v1/datasets/{dataset['id']}/annotators").json()["data"]
    }
    bad, good = quality[careless.annotator["id"]], quality[careful.annotator["id"]]
    assert bad["paused"] and bad["pause_reason"] == refused.json()["detail"]
    # Random clicks can miss every gold item they meet (about one run in 60): the interval then starts at 0.0.
    assert bad["gold_accuracy"] < 0.7 and bad["gold_ci95_low"] <= bad["gold_accuracy"] < bad["gold_ci95_high"]
    assert not good["paused"] and good["gold_accuracy"] == 1.0 and good["gold_answered"] == len(careful_gold)
    assert good["median_ms"] >= 250 and good["p10_ms"] >= 250  # server-side: lease to vote
    assert bad["fast"] and not good["fast"], (bad["median_ms"], good["median_ms"], bad["votes"])
    assert good["trust"] > 0.65 > bad["trust"]

    # min_trust drops the careless one's votes; without it they are kept (and flagged while paused).
    every = export_lines(admin, dataset["id"], format="raw")
    assert {line["annotator_id"] for line in every} == {careless.annotator["id"], careful.annotator["id"]}
    assert all(line["flagged"] == (line["annotator_id"] == careless.annotator["id"]) for line in every)
    assert all(line["gold"] is None for line in every)  # gold items only when asked
    trusted = export_lines(admin, dataset["id"], format="raw", min_trust=0.65)
    assert trusted and {line["annotator_id"] for line in trusted} == {careful.annotator["id"]}
    pairs = export_lines(admin, dataset["id"], format="trl", min_trust=0.65)
    assert len(pairs) == ORDINARY_ITEMS and all(p["chosen"].split()[-2] == "A" for p in pairs)
    with_gold = export_lines(admin, dataset["id"], format="trl", min_trust=0.65, include_gold=True)
    assert len(with_gold) == ORDINARY_ITEMS + sum(1 for answer in gold.values() if answer != "tie")
    parquet = admin.get(
        f"/api/v1/datasets/{dataset['id']}/export",
        params={"format": "parquet", "min_trust": 0.65, "include_gold": True},
    )
    assert parquet.status_code == 200, parquet.text
    assert pq.read_table(io.BytesIO(parquet.content)).to_pylist() == with_gold  # the same rows as trl
    assert all(
        line["gold"] is not None
        for line in export_lines(admin, dataset["id"], format="raw", include_gold=True)
        if line["comparison_id"] in gold
    )

    # The admin lifts the pause: next works again, and gold answers count afresh.
    lifted = admin.post(f"/api/v1/datasets/{dataset['id']}/annotators/{careless.annotator['id']}/unpause")
    assert lifted.status_code == 200
    assert careless.get(f"/api/v1/datasets/{dataset['id']}/next").status_code in (200, 204)
    again = admin.post(f"/api/v1/datasets/{dataset['id']}/annotators/{careless.annotator['id']}/unpause")
    assert again.status_code == 409


def test_gold_item_is_served_once_to_each_and_never_completes(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(2, k=3, gold_rate=1.0)
    item = comparison_items(1)[0] | {"gold": "b"}
    (gold_id,) = admin.post(f"/api/v1/datasets/{dataset['id']}/comparisons", json={"items": [item]}).json()[
        "ids"
    ]
    # Offered first (rate 1) while there is ordinary work, once to each; the fourth finds no work left.
    for expected in ([gold_id, *dataset["ids"]],) * 3 + ([],):
        voted, last = work(make_annotator(), dataset["id"], lambda _: "b")
        assert voted == expected and last.status_code == 204
    progress = admin.get(f"/api/v1/datasets/{dataset['id']}").json()
    assert progress["gold"] == 1 and progress["comparisons"] == 2 and progress["complete"] == 2


def test_marking_and_unmarking_gold(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(2, k=1)
    first, second = dataset["ids"]
    assert admin.put(f"/api/v1/comparisons/{first}/gold", json={"gold": "tie"}).json() == {
        "comparison_id": first,
        "gold": "tie",
    }
    alice = make_annotator()
    # gold_rate 0: the gold item is never offered; the ordinary one is.
    voted, last = work(alice, dataset["id"], lambda _: "a")
    assert voted == [second] and last.status_code == 204
    assert admin.put(f"/api/v1/comparisons/{first}/gold", json={"gold": None}).json()["gold"] is None
    voted, _ = work(alice, dataset["id"], lambda _: "a")
    assert voted == [first]
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").json()["complete"] == 2


def test_random_sampling_serves_each_item_once_in_another_order(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(150, k=1, sampling="random")
    assert dataset["sampling"] == "random" and dataset["sampling_state"] == "random"
    voted, last = work(make_annotator(), dataset["id"], lambda _: "a")
    assert last.status_code == 204
    assert sorted(voted) == sorted(dataset["ids"]) and voted != sorted(voted)
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").json()["complete"] == 150


def test_import_gold_follows_its_response(admin: httpx.Client, make_dataset: Callable, db: Session) -> None:
    dataset = make_dataset(0)
    lines = [
        {"prompt": f"p{i}", "chosen": f"good {i}", "rejected": f"bad {i}", "gold": "a"} for i in range(20)
    ] + [{"prompt": "p-tie", "chosen": "same", "rejected": "same too", "gold": "tie"}]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    response = admin.post(f"/api/v1/datasets/{dataset['id']}/import", params={"format": "trl"}, content=body)
    assert response.status_code == 201, response.text
    rows = db.execute(
        text("SELECT response_a, gold FROM comparison WHERE dataset_id = :d"),
        {"d": dataset["id"]},
    ).all()
    assert len(rows) == 21
    for response_a, gold in rows:
        if response_a.startswith("same"):
            assert gold == "tie"
        else:
            assert gold == ("a" if response_a.startswith("good") else "b")


def test_bad_quality_input_is_refused_and_changes_nothing(
    admin: httpx.Client, make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(1)
    (comparison_id,) = dataset["ids"]
    annotator = make_annotator()
    before = table_counts(db)
    for gold in ("skip", "x", "A", 1):
        item = comparison_items(1)[0] | {"gold": gold}
        response = admin.post(f"/api/v1/datasets/{dataset['id']}/comparisons", json={"items": [item]})
        assert response.status_code == 422, gold
        assert admin.put(f"/api/v1/comparisons/{comparison_id}/gold", json={"gold": gold}).status_code == 422
    for rate in (-0.1, 1.5, "often"):
        response = admin.post("/api/v1/datasets", json={"name": unique("ds"), "gold_rate": rate})
        assert response.status_code == 422, rate
    assert admin.post("/api/v1/datasets", json={"name": unique("ds"), "sampling": "best"}).status_code == 422
    bad_line = json.dumps({"prompt": "p", "chosen": "c", "rejected": "r", "gold": "skip"}).encode()
    response = admin.post(
        f"/api/v1/datasets/{dataset['id']}/import", params={"format": "trl"}, content=bad_line
    )
    assert response.status_code == 422 and "line 1" in response.json()["detail"]
    for value in (-1, 1.01):
        response = admin.get(
            f"/api/v1/datasets/{dataset['id']}/export", params={"format": "raw", "min_trust": value}
        )
        assert response.status_code == 422
    unpause = f"/api/v1/datasets/{dataset['id']}/annotators/{annotator.annotator['id']}/unpause"
    assert admin.post(unpause).status_code == 409
    assert admin.post(f"/api/v1/datasets/{dataset['id']}/annotators/999999999/unpause").status_code == 404
    assert admin.put("/api/v1/comparisons/999999999/gold", json={"gold": "a"}).status_code == 404
    assert table_counts(db) == before


def test_uncertainty_without_scores_falls_back_to_sequential_and_says_so(
    admin: httpx.Client, make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(3, sampling="uncertainty")
    assert dataset["sampling"] == "uncertainty"
    assert dataset["sampling_state"].startswith("sequential (uncertainty sampling")
    promoted = db.execute(
        text("SELECT count(*) FROM model_version WHERE kind = 'reward' AND promoted")
    ).scalar_one()
    if not promoted:
        assert "needs a reward" in dataset["sampling_state"]
    assert (
        admin.get(f"/api/v1/datasets/{dataset['id']}").json()["sampling_state"] == dataset["sampling_state"]
    )
    voted, last = work(make_annotator(), dataset["id"], lambda _: "a")
    assert voted == dataset["ids"] and last.status_code == 204


def scoring_jobs(admin: httpx.Client, dataset_id: int) -> list[dict[str, Any]]:
    jobs = admin.get("/api/v1/jobs", params={"kind": "score_comparisons"}).json()["data"]
    return [job for job in jobs if job["dataset_id"] == dataset_id]


def test_uncertainty_scores_with_the_datasets_named_reward_and_says_which(
    admin: httpx.Client, make_dataset: Callable, db: Session
) -> None:
    name = unique("helpful")
    dataset = make_dataset(3, sampling="uncertainty", reward=name)
    assert dataset["reward"] == name
    assert dataset["sampling_state"] == f"sequential (the dataset's reward {name!r} does not exist)"
    assert scoring_jobs(admin, dataset["id"]) == []

    # A new reward version made of one reward model: the collector queues a scoring job with that model.
    version = add_version(db, kind=ModelKind.REWARD, seed=7)
    body = {
        "name": name,
        "components": [{"model_version_id": version.id, "weight": 2, "whiten": {"mean": 1.0, "std": 2.0}}],
    }
    assert admin.post("/api/v1/rewards", json=body).status_code == 201
    jobs = scoring_jobs(admin, dataset["id"])
    assert [job["params"] for job in jobs] == [{"reward_model_version_id": version.id}]
    state = admin.get(f"/api/v1/datasets/{dataset['id']}").json()["sampling_state"]
    if state.startswith("sequential"):  # the job has not run (no worker in these tests, or not yet)
        assert state.endswith(f"reward {name}@v1: reward model {version.name})")

    # A combination cannot score comparisons: back to sequential, and why.
    other = add_version(db, kind=ModelKind.REWARD, seed=8)
    body = {"name": name, "components": [{"model_version_id": version.id}, {"model_version_id": other.id}]}
    assert admin.post("/api/v1/rewards", json=body).status_code == 201
    state = admin.get(f"/api/v1/datasets/{dataset['id']}").json()["sampling_state"]
    assert state == (
        f"sequential (reward {name}@v2 is not one reward model; uncertainty sampling scores with a single "
        "reward model)"
    )
    assert len(scoring_jobs(admin, dataset["id"])) == 1

    # PATCH: back to `default` with null; the other fields stay.
    updated = admin.patch(f"/api/v1/datasets/{dataset['id']}", json={"reward": None}).json()
    assert updated["reward"] is None and updated["sampling"] == "uncertainty" and updated["gold_rate"] == 0
    assert "default" in updated["sampling_state"] or "needs a reward" in updated["sampling_state"]
    updated = admin.patch(f"/api/v1/datasets/{dataset['id']}", json={"sampling": "random", "gold_rate": 0.2})
    assert updated.json()["sampling"] == "random" and updated.json()["gold_rate"] == 0.2
    assert updated.json()["sampling_state"] == "random"


def test_bad_dataset_changes_are_refused_and_change_nothing(
    admin: httpx.Client, make_dataset: Callable, db: Session
) -> None:
    dataset = make_dataset(1, sampling="uncertainty", gold_rate=0.1)
    path = f"/api/v1/datasets/{dataset['id']}"
    for body in (
        {"gold_rate": 1.5},
        {"gold_rate": -0.1},
        {"sampling": "best"},
        {"reward": "no spaces"},
        {"reward": ""},
        {"reward": "x" * 101},
        {"name": "renamed"},
    ):
        assert admin.patch(path, json=body).status_code == 422, body
    assert admin.post("/api/v1/datasets", json={"name": unique("ds"), "reward": "a b"}).status_code == 422
    assert admin.patch("/api/v1/datasets/999999999", json={"gold_rate": 0.5}).status_code == 404
    after = admin.get(path).json()
    assert (after["gold_rate"], after["sampling"], after["reward"]) == (0.1, "uncertainty", None)
