"""Job and model-version rules that need no worker: claims, promotion, the params table, the watchdog lock,
the data layer's split and aggregation."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.core.db import get_engine
from services.core.orm import Job, ModelVersion
from services.domain import jobs
from services.domain.job_params import trl_fields
from services.queue import watchdog
from tests.helpers.jobs import create_dataset
from training_jobs import data, param_table


def _job(db: Session, dataset_id: int, **fields) -> Job:
    job = Job(kind="sft", dataset_id=dataset_id, params={}, **fields)
    db.add(job)
    db.commit()
    return job


def test_a_job_is_claimed_once_however_often_it_is_delivered(admin: httpx.Client, db: Session):
    dataset = create_dataset(admin, 0)
    job = _job(db, dataset["id"])

    first = jobs.claim(db, job.id, worker="w1")
    second = jobs.claim(db, job.id, worker="w2")

    assert first is not None and first.status == "running" and first.worker == "w1" and first.attempts == 1
    assert second is None
    assert jobs.finish_failed(db, job.id, error="test over")
    assert not jobs.finish_cancelled(db, job.id)  # a settled job stays settled
    db.refresh(job)
    assert job.status == "failed" and job.error == "test over"


@contextmanager
def _watchdog_paused() -> Iterator[None]:
    """Hold the watchdog's lock: the test collector's watchdog skips its ticks and leaves these rows alone."""
    with get_engine().connect() as other:
        other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": watchdog.LOCK_KEY})
        try:
            yield
        finally:
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": watchdog.LOCK_KEY})
            other.commit()


def _lost(db: Session, dataset_id: int, *, attempts: int, cancel_requested: bool = False) -> Job:
    job = _job(
        db,
        dataset_id,
        status="running",
        worker="gone@host",
        attempts=attempts,
        progress=0.4,
        cancel_requested=cancel_requested,
    )
    db.execute(text("UPDATE job SET heartbeat_at = now() - interval '1 hour' WHERE id = :id"), {"id": job.id})
    db.commit()
    return job


def test_a_job_whose_worker_died_is_queued_again_once_then_failed(admin: httpx.Client, db: Session):
    dataset = create_dataset(admin, 0)
    with _watchdog_paused():
        first = _lost(db, dataset["id"], attempts=1)
        last = _lost(db, dataset["id"], attempts=2)
        cancelled = _lost(db, dataset["id"], attempts=1, cancel_requested=True)

        settled = jobs.settle_lost(db, heartbeat_timeout_seconds=60, max_attempts=2)

        outcomes = {lost.job_id: lost.outcome for lost in settled}
        assert outcomes == {first.id: "queued", last.id: "failed", cancelled.id: "cancelled"}
        for job in (first, last, cancelled):
            db.refresh(job)
        assert first.status == "queued" and first.attempts == 1 and first.worker is None
        assert first.heartbeat_at is None and first.finished_at is None and first.progress == 0
        assert first.error is not None and first.error.startswith("worker died (attempt 1 of 2)")
        assert "gone@host" in first.error and first.error.endswith("queued again")
        assert last.status == "failed" and last.finished_at is not None
        assert last.error is not None and last.error.startswith("worker died (attempt 2 of 2): no heartbeat")
        assert cancelled.status == "cancelled"
        jobs.cancel(db, first.id)  # before the watchdog runs again: no worker should take it


def test_the_next_attempt_starts_without_the_dead_runs_live_metrics(admin: httpx.Client, db: Session):
    dataset = create_dataset(admin, 0)
    with _watchdog_paused():
        lost = _lost(db, dataset["id"], attempts=1)
        db.execute(
            text('UPDATE job SET metrics = \'{"step": 7, "loss": 0.3}\' WHERE id = :id'), {"id": lost.id}
        )
        db.commit()
        jobs.settle_lost(db, heartbeat_timeout_seconds=60, max_attempts=2)

        again = jobs.claim(db, lost.id, worker="w2")

        assert again is not None and again.attempts == 2
        row = db.execute(text("SELECT metrics, progress FROM job WHERE id = :id"), {"id": lost.id}).one()
        assert row.metrics == {} and row.progress == 0  # the new run reports its own steps
        jobs.cancel(db, lost.id)


def test_a_gracefully_stopped_run_is_handed_back_without_counting_its_attempt(
    admin: httpx.Client, db: Session
):
    dataset = create_dataset(admin, 0)
    with _watchdog_paused():
        job = _job(db, dataset["id"], status="running", worker="w1", attempts=1)
        asked_to_cancel = _job(
            db, dataset["id"], status="running", worker="w1", attempts=1, cancel_requested=True
        )

        assert jobs.hand_back(db, job.id, attempt=2) is None  # not this run
        assert jobs.hand_back(db, job.id, attempt=1) == "queued"
        assert jobs.hand_back(db, asked_to_cancel.id, attempt=1) == "cancelled"

        db.refresh(job)
        assert job.status == "queued" and job.attempts == 0 and job.worker is None and job.error is None
        jobs.cancel(db, job.id)


def test_a_run_the_watchdog_gave_up_on_cannot_write_over_the_next_run(admin: httpx.Client, db: Session):
    dataset = create_dataset(admin, 0)
    with _watchdog_paused():
        job = _job(db, dataset["id"], status="running", worker="new@host", attempts=2)

        # The first run's worker wakes up after its job was queued again and claimed as attempt 2.
        assert not jobs.heartbeat(db, job.id, attempt=1)
        assert not jobs.report(db, job.id, progress=0.5, eta_seconds=1.0, metrics={}, log_tail="", attempt=1)
        assert jobs.should_stop(db, job.id, attempt=1) and not jobs.should_stop(db, job.id, attempt=2)
        assert not jobs.finish_failed(db, job.id, error="stale run", attempt=1)
        db.refresh(job)
        assert job.status == "running" and job.error is None

        assert jobs.finish_failed(db, job.id, error="test over", attempt=2)


def test_watchdog_tick_is_skipped_while_another_collector_holds_the_lock():
    with get_engine().connect() as other:
        # Blocking: the test collector's own watchdog may be mid-tick, holding the lock for a moment.
        other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": watchdog.LOCK_KEY})
        try:
            assert watchdog.tick().ran is False
        finally:
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": watchdog.LOCK_KEY})


def _version(db: Session, kind: str, job_id: int | None = None) -> ModelVersion:
    version_id = db.execute(
        text("SELECT nextval(pg_get_serial_sequence('model_version', 'id'))")
    ).scalar_one()
    version = ModelVersion(
        id=version_id, name=f"{kind}-{version_id}", kind=kind, base_model="b", path=f"{kind}-{version_id}"
    )
    db.add(version)
    db.commit()
    return version


def test_promote_keeps_one_promoted_version_per_kind(admin: httpx.Client, db: Session):
    first, second, reward = _version(db, "policy"), _version(db, "policy"), _version(db, "reward")

    assert admin.post(f"/api/v1/models/{reward.id}/promote").json()["promoted"] is True
    assert admin.post(f"/api/v1/models/{first.id}/promote").json()["promoted"] is True
    promoted = admin.post(f"/api/v1/models/{second.id}/promote").raise_for_status().json()

    assert promoted["promoted"] is True and promoted["name"] == f"policy-{second.id}"
    listed = {v["id"]: v for v in admin.get("/api/v1/models").json()["data"]}
    assert listed[first.id]["promoted"] is False
    assert listed[reward.id]["promoted"] is True
    assert [
        v["id"]
        for v in admin.get("/api/v1/models", params={"kind": "policy"}).json()["data"]
        if v["promoted"]
    ] == [second.id]
    assert admin.post("/api/v1/models/999999999/promote").status_code == 404


def test_params_table_matches_the_installed_trl_and_the_job_kinds():
    fresh: dict = {}
    exec(param_table.render(), fresh)  # noqa: S102 - our own generated source

    assert fresh["TRAINING_ARGUMENTS"] == trl_fields.TRAINING_ARGUMENTS
    assert fresh["TRL_CONFIG_FIELDS"] == trl_fields.TRL_CONFIG_FIELDS, (
        "run python -m training_jobs.param_table --write"
    )


def test_collector_imports_neither_torch_nor_transformers():
    code = "import sys, services.collector.app; print(sorted({'torch', 'transformers', 'trl'} & set(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_train_eval_split_is_deterministic_and_an_item_keeps_its_side():
    items = [{"prompt": f"p{i}", "chosen": "c", "rejected": "r"} for i in range(200)]
    train, evaluation = data.split_train_eval(items, eval_fraction=0.2)
    again = data.split_train_eval(list(reversed(items)), eval_fraction=0.2)
    bigger = data.split_train_eval(items + [{"prompt": f"new{i}"} for i in range(100)], eval_fraction=0.2)

    assert 20 <= len(evaluation) <= 60 and len(train) + len(evaluation) == 200
    assert {i["prompt"] for i in again[1]} == {i["prompt"] for i in evaluation}
    assert {i["prompt"] for i in evaluation} <= {i.get("prompt") for i in bigger[1]}
    assert len(data.split_train_eval(items[:2], eval_fraction=0.1)[1]) == 1


def _annotator(admin: httpx.Client, collector_url: str) -> httpx.Client:
    created = admin.post("/api/v1/annotators", json={"name": "judge"}).raise_for_status().json()
    return httpx.Client(base_url=collector_url, headers={"Authorization": f"Bearer {created['token']}"})


def test_preference_pairs_follow_the_majority_and_leave_out_ties(admin: httpx.Client, collector_url: str):
    dataset = admin.post(
        "/api/v1/datasets", json={"name": f"majority-{uuid.uuid4().hex[:8]}", "annotations_per_comparison": 3}
    ).json()
    items = [{"prompt": f"q{i}", "response_a": f"a{i}", "response_b": f"b{i}"} for i in range(2)]
    admin.post(f"/api/v1/datasets/{dataset['id']}/comparisons", json={"items": items}).raise_for_status()
    votes = {"q0": ["b", "b", "a"], "q1": ["a", "tie", "b"]}
    for index in range(3):
        with _annotator(admin, collector_url) as client:
            for _ in range(2):
                shown = client.get(f"/api/v1/datasets/{dataset['id']}/next").raise_for_status().json()
                choice = votes[shown["prompt"]][index]
                vote = {"choice": choice, "strength": 3} if choice in ("a", "b") else {"choice": choice}
                client.post(
                    f"/api/v1/comparisons/{shown['comparison_id']}/preferences", json=vote
                ).raise_for_status()

    result = data.preference_pairs(dataset["id"])

    assert [(p["prompt"], p["chosen"], p["rejected"]) for p in result.pairs] == [("q0", "b0", "a0")]
    assert result.pairs[0]["margin"] == pytest.approx(1.0)
    assert result.snapshot["dataset_id"] == dataset["id"] and result.snapshot["max_preference_id"] is not None
