"""`next` and votes: leases, slots, conflicts, idempotency."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.helpers.collector import table_counts
from tests.helpers.servers import running_collector

LEASE_SECONDS = 1


def vote(client: httpx.Client, comparison_id: int, body: dict[str, Any], **headers: str) -> httpx.Response:
    return client.post(f"/api/v1/comparisons/{comparison_id}/preferences", json=body, headers=headers)


def next_of(client: httpx.Client, dataset_id: int) -> httpx.Response:
    return client.get(f"/api/v1/datasets/{dataset_id}/next")


def test_next_returns_comparison_with_lease(make_dataset: Callable, make_annotator: Callable) -> None:
    dataset = make_dataset(2)
    alice = make_annotator()
    response = next_of(alice, dataset["id"])
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"comparison_id", "prompt", "response_a", "response_b", "lease_expires_at"}
    assert body["comparison_id"] == dataset["ids"][0]
    assert body["prompt"].endswith("prompt 0")


def test_next_again_returns_same_comparison(make_dataset: Callable, make_annotator: Callable) -> None:
    dataset = make_dataset(3)
    alice = make_annotator()
    first = next_of(alice, dataset["id"]).json()
    again = next_of(alice, dataset["id"]).json()
    assert again["comparison_id"] == first["comparison_id"]
    assert again["lease_expires_at"] >= first["lease_expires_at"]


def test_next_hands_comparison_to_at_most_k_annotators(
    make_dataset: Callable, make_annotator: Callable
) -> None:
    dataset = make_dataset(1, k=2)
    got = [next_of(make_annotator(), dataset["id"]) for _ in range(3)]
    assert [r.status_code for r in got] == [200, 200, 204]


def test_vote_fills_slot_and_completes_comparison(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(1)
    alice, bob = make_annotator(), make_annotator()
    cid = next_of(alice, dataset["id"]).json()["comparison_id"]
    response = vote(
        alice,
        cid,
        {"choice": "a", "strength": 3, "rationale": "clearer", "time_spent_ms": 1200, "shown_left": "b"},
    )
    assert response.status_code == 201
    stored = response.json()
    assert stored["choice"] == "a" and stored["strength"] == 3 and stored["shown_left"] == "b"
    assert stored["comparison_id"] == cid and stored["annotator_id"] == alice.annotator["id"]
    assert stored["leased_at"] is not None
    assert next_of(bob, dataset["id"]).status_code == 204
    progress = admin.get(f"/api/v1/datasets/{dataset['id']}").json()
    assert progress["complete"] == 1 and progress["votes"] == 1 and progress["remaining"] == 0


def test_vote_releases_lease_and_next_moves_on(make_dataset: Callable, make_annotator: Callable) -> None:
    dataset = make_dataset(2, k=2)
    alice = make_annotator()
    first = next_of(alice, dataset["id"]).json()["comparison_id"]
    assert vote(alice, first, {"choice": "b"}).status_code == 201
    assert next_of(alice, dataset["id"]).json()["comparison_id"] == dataset["ids"][1]


def test_skip_does_not_fill_slot(make_dataset: Callable, make_annotator: Callable, db: Session) -> None:
    dataset = make_dataset(1)
    alice, bob = make_annotator(), make_annotator()
    cid = next_of(alice, dataset["id"]).json()["comparison_id"]
    assert vote(alice, cid, {"choice": "skip"}).status_code == 201
    assert next_of(alice, dataset["id"]).status_code == 204  # never the same comparison twice
    assert next_of(bob, dataset["id"]).json()["comparison_id"] == cid
    row = db.execute(text("SELECT vote_count, is_complete FROM comparison WHERE id = :id"), {"id": cid}).one()
    assert tuple(row) == (0, False)


def test_both_bad_is_stored_as_tie_and_fills_slot(
    make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(1)
    alice = make_annotator()
    cid = next_of(alice, dataset["id"]).json()["comparison_id"]
    stored = vote(alice, cid, {"choice": "tie", "both_bad": True}).json()
    assert stored["choice"] == "tie" and stored["both_bad"] is True
    assert db.execute(text("SELECT is_complete FROM comparison WHERE id = :id"), {"id": cid}).scalar_one()


def test_vote_twice_same_comparison_conflicts(
    make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(1, k=3)
    alice = make_annotator()
    cid = next_of(alice, dataset["id"]).json()["comparison_id"]
    assert vote(alice, cid, {"choice": "a"}).status_code == 201
    before = table_counts(db)
    second = vote(alice, cid, {"choice": "b"})
    assert second.status_code == 409
    assert "already judged" in second.json()["detail"]
    assert table_counts(db) == before


def test_vote_without_lease_allowed_while_slot_free(make_dataset: Callable, make_annotator: Callable) -> None:
    dataset = make_dataset(1, k=2)
    alice = make_annotator()
    assert vote(alice, dataset["ids"][0], {"choice": "a"}).status_code == 201


def test_vote_without_lease_on_full_comparison_conflicts(
    make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(1, k=1)
    alice, bob = make_annotator(), make_annotator()
    cid = next_of(alice, dataset["id"]).json()["comparison_id"]  # alice's live lease takes the only slot
    before = table_counts(db)
    response = vote(bob, cid, {"choice": "a"})
    assert response.status_code == 409
    assert "no free slot" in response.json()["detail"]
    assert table_counts(db) == before
    assert vote(alice, cid, {"choice": "a"}).status_code == 201
    assert vote(make_annotator(), cid, {"choice": "b"}).status_code == 409  # now full by votes


def test_idempotent_retry_returns_first_answer_and_stores_once(
    make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(1, k=2)
    alice = make_annotator()
    cid = next_of(alice, dataset["id"]).json()["comparison_id"]
    first = vote(alice, cid, {"choice": "a", "strength": 2}, **{"Idempotency-Key": "vote-1"})
    before = table_counts(db)
    retry = vote(alice, cid, {"choice": "a", "strength": 2}, **{"Idempotency-Key": "vote-1"})
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert table_counts(db) == before
    count = db.execute(
        text(
            "SELECT count(*), max(vote_count) FROM preference p JOIN comparison c ON c.id = p.comparison_id WHERE c.id = :id"
        ),
        {"id": cid},
    ).one()
    assert tuple(count) == (1, 1)


def test_idempotency_key_reused_for_other_comparison_is_refused(
    make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(2, k=2)
    alice = make_annotator()
    assert vote(alice, dataset["ids"][0], {"choice": "a"}, **{"Idempotency-Key": "k"}).status_code == 201
    before = table_counts(db)
    response = vote(alice, dataset["ids"][1], {"choice": "a"}, **{"Idempotency-Key": "k"})
    assert response.status_code == 422
    assert "already used" in response.json()["detail"]
    assert table_counts(db) == before


@pytest.mark.parametrize(
    "changed",
    [{"choice": "b"}, {"choice": "a", "strength": 3}, {"choice": "a", "rationale": "on second thoughts"}],
    ids=["choice", "strength", "rationale"],
)
def test_idempotency_key_reused_with_another_vote_is_refused(
    changed: dict[str, Any], make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(1, k=2)
    alice = make_annotator()
    cid = dataset["ids"][0]
    assert vote(alice, cid, {"choice": "a"}, **{"Idempotency-Key": "k"}).status_code == 201
    before = table_counts(db)
    response = vote(alice, cid, changed, **{"Idempotency-Key": "k"})
    assert response.status_code == 422
    assert "different vote" in response.json()["detail"]
    assert table_counts(db) == before
    stored = db.execute(
        text("SELECT choice, strength, rationale FROM preference WHERE comparison_id = :id"), {"id": cid}
    )
    assert [tuple(row) for row in stored] == [("a", None, None)]


def test_concurrent_retries_with_same_key_store_one_row(
    make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(1, k=3)
    alice = make_annotator()
    cid = dataset["ids"][0]
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(8)

    def retry() -> None:
        with httpx.Client(base_url=str(alice.base_url), headers=alice.headers) as client:
            barrier.wait()
            answers.append(vote(client, cid, {"choice": "tie"}, **{"Idempotency-Key": "same"}))

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["id"] for r in answers}) == 1
    rows = db.execute(
        text("SELECT count(*) FROM preference WHERE comparison_id = :id"), {"id": cid}
    ).scalar_one()
    assert rows == 1
    assert db.execute(text("SELECT vote_count FROM comparison WHERE id = :id"), {"id": cid}).scalar_one() == 1


def test_me_lists_datasets_with_my_progress(make_dataset: Callable, make_annotator: Callable) -> None:
    dataset = make_dataset(3, k=1, guidelines="Pick the kinder answer.")
    alice = make_annotator("alice")
    cid = next_of(alice, dataset["id"]).json()["comparison_id"]
    vote(alice, cid, {"choice": "a"})
    me = alice.get("/api/v1/me").json()
    assert me["id"] == alice.annotator["id"] and me["name"] == "alice"
    mine = next(d for d in me["datasets"] if d["id"] == dataset["id"])
    assert mine == {
        "id": dataset["id"],
        "name": dataset["name"],
        "guidelines": "Pick the kinder answer.",
        "annotations_per_comparison": 1,
        "done_by_me": 1,
        "remaining": 2,
    }


@pytest.fixture(scope="module")
def short_lease_url(stack_env: dict[str, str], state_dir: Path) -> Iterator[str]:
    """A second collector whose leases last LEASE_SECONDS."""
    env = {**stack_env, "RLHF_LEASE_SECONDS": str(LEASE_SECONDS)}
    with running_collector(env, log_path=state_dir / "collector-short-lease.log") as url:
        yield url


def test_expired_lease_returns_work_to_pool(
    make_dataset: Callable, make_annotator: Callable, short_lease_url: str
) -> None:
    dataset = make_dataset(1, k=1)
    alice, bob = make_annotator(base_url=short_lease_url), make_annotator(base_url=short_lease_url)
    cid = next_of(alice, dataset["id"]).json()["comparison_id"]
    assert next_of(bob, dataset["id"]).status_code == 204
    time.sleep(LEASE_SECONDS + 0.2)
    assert next_of(bob, dataset["id"]).json()["comparison_id"] == cid
    # Alice's lease expired and Bob holds the only slot: her late vote is refused, his counts.
    assert vote(alice, cid, {"choice": "a"}).status_code == 409
    assert vote(bob, cid, {"choice": "b"}).status_code == 201


def test_annotator_requests_survive_dropped_database_connections(
    make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(2)
    annotator = make_annotator()
    for _ in range(20):  # open the hot path's pooled connections
        assert annotator.get("/api/v1/me").status_code == 200

    # What a PostgreSQL restart does to every pooled connection of the annotation hot path.
    dropped = db.execute(
        text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'rlhf-collector-annotation' AND datname = current_database()"
        )
    ).scalar_one()
    db.commit()
    assert dropped > 0

    # Only requests that met a dead connection fail, with a retryable 503; the pool is swept meanwhile.
    first = annotator.get("/api/v1/me")
    assert first.status_code in (200, 503), first.text
    deadline = time.monotonic() + 10
    while annotator.get("/api/v1/me").status_code != 200:
        assert time.monotonic() < deadline, "the hot path did not recover from dropped connections"
        time.sleep(0.2)
    statuses = [annotator.get("/api/v1/me").status_code for _ in range(40)]  # more than the pool holds
    assert statuses == [200] * 40
    offered = annotator.get(f"/api/v1/datasets/{dataset['id']}/next").raise_for_status().json()
    vote = annotator.post(f"/api/v1/comparisons/{offered['comparison_id']}/preferences", json={"choice": "a"})
    assert vote.status_code == 201


def hold_for(
    db: Session, annotator_id: int, comparison_id: int, *, held_seconds: int, left_seconds: float
) -> None:
    """Make an annotator's lease look as if its hold began `held_seconds` ago and ends in `left_seconds`: what
    renewing it with `next` for that long leaves behind, without the test waiting for it."""
    db.execute(
        text(
            "UPDATE lease SET created_at = now() - make_interval(secs => :held),"
            " expires_at = now() + make_interval(secs => :left)"
            " WHERE annotator_id = :annotator AND comparison_id = :comparison"
        ),
        {"held": held_seconds, "left": left_seconds, "annotator": annotator_id, "comparison": comparison_id},
    )
    db.commit()


def test_next_renews_a_lease_only_up_to_the_cap(
    make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(2, k=1)
    alice = make_annotator()
    first = next_of(alice, dataset["id"]).json()
    cap = 3 * 600  # the default: three times RLHF_LEASE_SECONDS
    hold_for(db, alice.annotator["id"], first["comparison_id"], held_seconds=cap - 10, left_seconds=5)
    again = next_of(alice, dataset["id"]).json()
    assert again["comparison_id"] == first["comparison_id"]
    left = db.execute(
        text("SELECT extract(epoch FROM expires_at - now()) FROM lease WHERE comparison_id = :id"),
        {"id": first["comparison_id"]},
    ).scalar_one()
    assert 0 < left <= 10  # renewed to the cap, not for another 600 s
    assert datetime.fromisoformat(again["lease_expires_at"]) <= datetime.now(UTC) + timedelta(seconds=11)


def test_comparison_held_to_the_cap_goes_to_others_and_the_holder_gets_another(
    make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(2, k=1)
    alice, bob = make_annotator(), make_annotator()
    held = next_of(alice, dataset["id"]).json()["comparison_id"]
    other = next(cid for cid in dataset["ids"] if cid != held)
    hold_for(
        db, alice.annotator["id"], held, held_seconds=3 * 600 + 1, left_seconds=-1
    )  # ran out a second ago

    assert next_of(alice, dataset["id"]).json()["comparison_id"] == other  # not the one she sat on
    assert next_of(bob, dataset["id"]).json()["comparison_id"] == held
    # Once Bob has it, her late vote finds no free slot.
    assert vote(alice, held, {"choice": "a"}).status_code == 409


def test_holder_past_the_cap_gets_nothing_new_but_may_vote_while_a_slot_is_free(
    make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(1, k=1)
    alice = make_annotator()
    held = next_of(alice, dataset["id"]).json()["comparison_id"]
    hold_for(db, alice.annotator["id"], held, held_seconds=3 * 600 + 1, left_seconds=-1)
    assert next_of(alice, dataset["id"]).status_code == 204  # cooling down: others come first
    assert vote(alice, held, {"choice": "b"}).status_code == 201


def test_holder_gets_the_comparison_again_after_the_cool_down(
    make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(1, k=1)
    alice = make_annotator()
    held = next_of(alice, dataset["id"]).json()["comparison_id"]
    # The cap was reached a lease period (600 s) and a second ago: nobody took it meanwhile.
    hold_for(db, alice.annotator["id"], held, held_seconds=3 * 600 + 601, left_seconds=-601)
    again = next_of(alice, dataset["id"]).json()
    assert again["comparison_id"] == held
    assert datetime.fromisoformat(again["lease_expires_at"]) > datetime.now(UTC) + timedelta(seconds=500)


def test_renewing_every_moment_cannot_keep_a_comparison_past_the_cap(
    make_dataset: Callable, make_annotator: Callable, short_lease_url: str
) -> None:
    # With 1 s leases the cap is 3 s: Alice renews twice a second; Bob asks as often and gets it soon after.
    dataset = make_dataset(1, k=1)
    alice, bob = make_annotator(base_url=short_lease_url), make_annotator(base_url=short_lease_url)
    # A test before may have dropped this collector's pooled connections: its first answer may be a 503.
    assert 200 in [alice.get("/api/v1/me").status_code for _ in range(2)]
    first = next_of(alice, dataset["id"]).json()
    granted = datetime.fromisoformat(first["lease_expires_at"]) - timedelta(seconds=LEASE_SECONDS)
    deadline = time.monotonic() + 3 * LEASE_SECONDS + 5
    while time.monotonic() < deadline:
        mine = next_of(alice, dataset["id"])
        if mine.status_code == 200 and mine.json()["comparison_id"] == first["comparison_id"]:
            expires = datetime.fromisoformat(mine.json()["lease_expires_at"])
            assert expires <= granted + timedelta(seconds=3 * LEASE_SECONDS + 0.01)
        if next_of(bob, dataset["id"]).status_code == 200:
            break
        time.sleep(0.5)
    else:
        pytest.fail("Alice kept the comparison past the cap")
