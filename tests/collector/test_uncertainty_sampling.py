"""Uncertainty sampling's order in `next`: smallest stored reward margin first, unscored comparisons after in id
order; leases and k hold as in the other orders. Margins are written and ranked through the domain's own store
and rank (the worker's job does the same: tests/training_jobs/test_score_comparisons.py), here with no share
picked at random (RLHF_UNCERTAINTY_RANDOM_SHARE=0) so that the order is the margins' alone."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.orm import Session

from services.core.orm import ModelVersion
from services.core.settings import get_settings
from services.domain import scores
from tests.helpers.collector import unique


@pytest.fixture(autouse=True)
def margins_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """scores.rank runs in this process: no comparison is placed at random."""
    monkeypatch.setenv("RLHF_UNCERTAINTY_RANDOM_SHARE", "0")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def scoring_version(db: Session) -> ModelVersion:
    """A reward model version row to file scores under (nothing loads it here)."""
    version = ModelVersion(name=unique("test-scores"), kind="reward", base_model="none", path="none")
    db.add(version)
    db.commit()
    return version


def test_next_serves_smallest_margin_first_then_unscored_in_id_order(
    make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(200, k=2, sampling="uncertainty")
    ids = dataset["ids"]
    rng = random.Random(3)
    scored = rng.sample(ids, 150)  # spans several of next's 64-row windows
    margins = {comparison_id: rng.random() for comparison_id in scored}
    version = scoring_version(db)
    scores.store(db, version.id, list(margins.items()))
    scores.rank(db, dataset["id"], version.id)
    expected = sorted(scored, key=margins.__getitem__) + [c for c in ids if c not in margins]

    alice, bob, carol = make_annotator(), make_annotator(), make_annotator()
    served = []
    for _ in ids:
        comparison_id = alice.get(f"/api/v1/datasets/{dataset['id']}/next").json()["comparison_id"]
        # k = 2: bob is leased the same comparison (one slot left), then both vote.
        assert bob.get(f"/api/v1/datasets/{dataset['id']}/next").json()["comparison_id"] == comparison_id
        for client in (alice, bob):
            vote = client.post(f"/api/v1/comparisons/{comparison_id}/preferences", json={"choice": "a"})
            assert vote.status_code == 201
        served.append(comparison_id)
    assert served == expected
    assert carol.get(f"/api/v1/datasets/{dataset['id']}/next").status_code == 204


def test_completed_comparisons_leave_the_uncertainty_order(
    make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(3, k=1, sampling="uncertainty")
    first, second, third = dataset["ids"]
    version = scoring_version(db)
    scores.store(db, version.id, [(first, 0.9), (second, 0.1), (third, 0.5)])
    scores.rank(db, dataset["id"], version.id)
    alice = make_annotator()
    served = []
    while (answer := alice.get(f"/api/v1/datasets/{dataset['id']}/next")).status_code == 200:
        served.append(answer.json()["comparison_id"])
        assert (
            alice.post(f"/api/v1/comparisons/{served[-1]}/preferences", json={"choice": "b"}).status_code
            == 201
        )
    assert served == [second, third, first]
