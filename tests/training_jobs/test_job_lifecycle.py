"""The job lifecycle with a real worker: bad input, readable failures, cancel, lost messages, duplicate
deliveries, and the two-process accelerate path (a worker that dies or stops: test_worker_faults.py)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import redis
import torch
from sqlalchemy.orm import Session
from transformers import AutoModelForSequenceClassification

from services.core.artifacts import version_path
from services.core.orm import Job
from services.core.settings import GPU_QUEUE
from services.queue import broker
from tests.helpers.jobs import ENDLESS, JOB_ENV, Worker, create_dataset, is_training, submit, wait_for_job


def _job_count(admin: httpx.Client) -> int:
    return admin.get("/api/v1/jobs", params={"limit": 1}).raise_for_status().json()["count"]


@pytest.fixture(scope="module")
def dataset(module_admin: httpx.Client) -> dict[str, Any]:
    return create_dataset(module_admin, 24)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "reward_model", "params": {"learning_rat": 1e-5}}, "unknown parameter params.learning_rat"),
        ({"kind": "reward_model", "params": {"learning_rate": "fast"}}, "params.learning_rate must be float"),
        ({"kind": "sft", "params": {"num_train_epochs": [1]}}, "params.num_train_epochs must be float"),
        ({"kind": "dpo", "params": {"output_dir": "/tmp/x"}}, "set by the platform"),
        ({"kind": "reward_model", "params": {"lora": {"r": 8}, "trainable": ["score"]}}, "alternatives"),
        ({"kind": "reward_model", "params": {"lora": {"rank": 8}}}, "unknown key params.lora.rank"),
        ({"kind": "sft", "params": {"policy_version_id": 10**9}}, "does not exist"),
        ({"kind": "generate_comparisons", "params": {"learning_rate": 1e-5}}, "unknown parameter"),
        (
            {
                "kind": "generate_comparisons",
                "params": {"target_dataset_id": 10**9, "allow_self_comparison": True},
            },
            "does not exist",
        ),
        ({"kind": "generate_comparisons", "params": {}}, "params.other_policy_version_id is missing"),
        ({"kind": "ppo", "params": {"recipe": "fastest"}}, "params.recipe must name a recipe of ppo"),
        ({"kind": "reward_model", "dataset_id": 10**9}, "dataset 1000000000 does not exist"),
        ({"kind": "reward_modle"}, "reward_model"),
        ({"kind": "sft", "params": [1]}, "dictionary"),
        ({"kind": "sft", "base_model": ""}, "at least 1 character"),
    ],
)
def test_bad_job_request_is_refused_with_422_and_nothing_stored(admin: httpx.Client, dataset, body, message):
    before = _job_count(admin)
    response = admin.post("/api/v1/jobs", json={"dataset_id": dataset["id"], **body})

    assert response.status_code == 422, response.text
    assert message in str(response.json()["detail"])
    assert _job_count(admin) == before


def test_unknown_job_is_404(admin: httpx.Client):
    assert admin.get("/api/v1/jobs/999999999").status_code == 404
    assert admin.post("/api/v1/jobs/999999999/cancel").status_code == 404


def test_job_on_a_dataset_without_decided_comparisons_fails_with_a_readable_error(
    admin: httpx.Client, worker: Worker, tiny_gpt2
):
    empty = create_dataset(admin, 0)
    undecided = create_dataset(admin, 4, with_preferences=False)
    failed = [
        wait_for_job(admin, submit(admin, "reward_model", d["id"], base_model=str(tiny_gpt2)))
        for d in (empty, undecided)
    ]
    for job in failed:
        assert job["status"] == "failed"
        assert "has no decided comparisons" in job["error"]
        assert job["model_version_id"] is None and job["finished_at"] is not None
    prompts = wait_for_job(
        admin,
        submit(
            admin,
            "generate_comparisons",
            empty["id"],
            base_model=str(tiny_gpt2),
            params={"allow_self_comparison": True},
        ),
    )
    assert prompts["status"] == "failed" and "has no prompts" in prompts["error"]


def test_job_with_a_missing_base_model_fails_with_a_readable_error(
    admin: httpx.Client, worker: Worker, dataset
):
    job = wait_for_job(admin, submit(admin, "sft", dataset["id"], base_model="nobody/no-such-model"))

    assert job["status"] == "failed"
    assert "model 'nobody/no-such-model' not found" in job["error"]


def test_cancel_stops_a_running_job_and_a_queued_one_at_once(
    admin: httpx.Client, worker: Worker, dataset, tiny_gpt2, db: Session, redis_url: str
):
    running_id = submit(admin, "reward_model", dataset["id"], base_model=str(tiny_gpt2), params=ENDLESS)
    training = wait_for_job(admin, running_id, until=is_training)
    assert 0 < training["progress"] < 1 and training["eta_seconds"] > 0 and training["heartbeat_at"]
    queued_id = submit(admin, "reward_model", dataset["id"], base_model=str(tiny_gpt2))
    # Waiting behind the running job longer than the requeue delay: the watchdog leaves its message alone.
    time.sleep(float(JOB_ENV["RLHF_JOB_REQUEUE_AFTER_SECONDS"]) + 2)
    messages = redis.Redis.from_url(redis_url).lrange(GPU_QUEUE, 0, -1)
    assert sum(broker.task_id(queued_id).encode() in m for m in messages) == 1

    queued = admin.post(f"/api/v1/jobs/{queued_id}/cancel").raise_for_status().json()
    assert queued["status"] == "cancelled" and queued["cancel_requested"]
    running = admin.post(f"/api/v1/jobs/{running_id}/cancel").raise_for_status().json()
    assert running["status"] == "running" and running["cancel_requested"]

    job = wait_for_job(admin, running_id, timeout=60)
    assert job["status"] == "cancelled" and job["model_version_id"] is None
    assert job["metrics"]["step"] < ENDLESS["max_steps"]
    assert "cancel" in job["log_tail"]
    assert admin.post(f"/api/v1/jobs/{running_id}/cancel").status_code == 409
    # The queued job's message reaches the worker after the cancel: it is skipped, never started.
    time.sleep(2)
    db.expire_all()
    skipped = db.get(Job, queued_id)
    assert skipped is not None
    assert skipped.status == "cancelled" and skipped.started_at is None and skipped.attempts == 0


def test_duplicate_delivery_does_not_run_a_job_twice(admin: httpx.Client, worker: Worker, dataset, tiny_gpt2):
    params = {"max_new_tokens": 4, "num_prompts": 2, "allow_self_comparison": True}
    job = wait_for_job(
        admin, submit(admin, "generate_comparisons", dataset["id"], base_model=str(tiny_gpt2), params=params)
    )
    assert job["status"] == "succeeded" and job["attempts"] == 1

    broker.enqueue_job(job["id"])  # the broker delivers the same job again
    assert worker.server is not None
    deadline = time.monotonic() + 30
    while f"job {job['id']} is not queued" not in worker.server.log_text():
        assert time.monotonic() < deadline, "the worker never received the duplicate"
        time.sleep(0.3)
    again = admin.get(f"/api/v1/jobs/{job['id']}").json()
    assert again["attempts"] == 1 and again["finished_at"] == job["finished_at"]


def test_queued_job_whose_broker_message_was_lost_is_enqueued_again(
    admin: httpx.Client, worker: Worker, dataset, tiny_gpt2, db: Session
):
    # A job row committed without a message (Redis restarted empty, or enqueue failed after the commit).
    lost = Job(
        kind="generate_comparisons",
        dataset_id=dataset["id"],
        base_model=str(tiny_gpt2),
        params={"max_new_tokens": 4, "num_prompts": 2, "allow_self_comparison": True},
    )
    db.add(lost)
    db.commit()

    job = wait_for_job(admin, lost.id, timeout=90)

    assert job["status"] == "succeeded" and job["attempts"] == 1
    assert job["metrics"]["comparisons"] == 2


def test_two_process_job_runs_under_accelerate_launch(
    admin: httpx.Client, worker: Worker, dataset, tiny_gpt2
):
    params = {"num_processes": 2, "max_steps": 4, "per_device_train_batch_size": 4, "learning_rate": 1e-3}
    job = wait_for_job(
        admin, submit(admin, "reward_model", dataset["id"], base_model=str(tiny_gpt2), params=params)
    )

    assert job["status"] == "succeeded", job
    assert "rank 0 of 2" in job["log_tail"]
    assert job["metrics"]["eval_pairs"] > 0
    version = admin.get(f"/api/v1/models/{job['model_version_id']}").json()
    trained = AutoModelForSequenceClassification.from_pretrained(version_path(version["path"]))
    base = AutoModelForSequenceClassification.from_pretrained(tiny_gpt2)
    assert not torch.equal(trained.transformer.h[0].mlp.c_fc.weight, base.transformer.h[0].mlp.c_fc.weight)
