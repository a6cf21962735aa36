"""ai_feedback on a real worker, its judge the platform's own inference service (its OpenAI-compatible
/v1/chat/completions, serving a tiny chat GPT-2) or a tiny chat model the worker runs, on real ETHICS pairs
(tests/data/SOURCES.md): AI preferences stored apart from the human queue, both orders judged, the raw answers
kept; readable failures that keep what was written."""

from __future__ import annotations

import csv
import json
import math
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from transformers import AutoTokenizer

from services.core.net import free_port
from services.domain import job_params
from services.domain.ai_agreement import cohen_kappa
from services.domain.job_params import AiFeedbackParams
from tests.helpers.collector import AnnotatorClient, unique
from tests.helpers.jobs import Worker, submit, wait_for_job
from tests.helpers.paths import DATA_DIR
from tests.helpers.servers import start_inference
from tests.helpers.tiny_models import TINY_CHAT_TEMPLATE, build_tiny_gpt2, build_tiny_llama

QUESTION = "Which situation is more pleasant for the person in it?"
# Short enough for the tiny judge's 256-token window; the default template is the worker judge's test's.
TEMPLATE = "{principles}\nQ: {prompt}\nA: {response_a}\nB: {response_b}\nBetter:"
PRINCIPLES = ["Pick the more pleasant situation."]
NAMED = {"ab": {"A": "a", "B": "b"}, "ba": {"A": "b", "B": "a"}}


def ethics_rows(n: int, *, skip: int = 0) -> list[dict[str, str]]:
    """ETHICS utilitarianism test pairs as TRL preference rows: people rated the first scenario more pleasant."""
    with (DATA_DIR / "ethics_utilitarianism_test.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))[skip : skip + n]
    return [
        {"prompt": QUESTION, "chosen": better.strip(), "rejected": worse.strip()} for better, worse in rows
    ]


def ethics_dataset(admin: httpx.Client, n: int, *, with_preferences: bool, skip: int = 0) -> dict[str, Any]:
    body = "".join(json.dumps(row) + "\n" for row in ethics_rows(n, skip=skip)).encode()
    response = admin.post(
        "/api/v1/datasets/import",
        params={"name": unique("ethics"), "format": "trl", "with_preferences": str(with_preferences).lower()},
        content=body,
    )
    response.raise_for_status()
    return admin.get(f"/api/v1/datasets/{response.json()['dataset_id']}").raise_for_status().json()


@pytest.fixture(scope="module")
def judge_url(
    jobs_env: dict[str, str], state_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The inference service serving a tiny GPT-2 (trained tokenizer on ETHICS text, 256 positions) with a chat
    template: the judge behind an OpenAI-compatible endpoint."""
    directory = build_tiny_gpt2(tmp_path_factory.mktemp("judge-policy"), training=True)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    server, url = start_inference({**jobs_env, "RLHF_POLICY_MODEL": str(directory)}, state_dir / "judge.log")
    try:
        yield url
    finally:
        server.stop()


def endpoint_params(url: str, **extra: Any) -> dict[str, Any]:
    judge = {"base_url": f"{url}/v1", "model": "policy", "api_key_env": "RLHF_JUDGE_KEY_TESTS"}
    return {"judge": judge, "prompt_template": TEMPLATE, "principles": PRINCIPLES, **extra}


def ai_rows(db: Session, dataset_id: int) -> list[dict[str, Any]]:
    db.rollback()
    rows = db.execute(
        text(
            """SELECT p.comparison_id, p.choice, p.source, p.rationale, p.metadata, a.name, a.role,
                      c.vote_count, c.is_complete, c.response_a, c.response_b
               FROM preference p JOIN annotator a ON a.id = p.annotator_id
               JOIN comparison c ON c.id = p.comparison_id
               WHERE c.dataset_id = :d AND p.source = 'ai' ORDER BY p.comparison_id"""
        ),
        {"d": dataset_id},
    )
    return [dict(row) for row in rows.mappings()]


def expected_choice(answers: dict[str, Any]) -> str:
    """Both orders naming the same response, else a tie (an answer naming neither letter decides nothing)."""
    picks = {NAMED[order].get(answers[order]["letter"], "") for order in ("ab", "ba")}
    return picks.pop() if len(picks) == 1 and "" not in picks else "tie"


def test_endpoint_judge_writes_ai_preferences_outside_the_human_queue(
    admin: httpx.Client, db: Session, worker: Worker, judge_url: str, collector_url: str, admin_token: str
) -> None:
    dataset = ethics_dataset(admin, 6, with_preferences=False)
    job = wait_for_job(admin, submit(admin, "ai_feedback", dataset["id"], params=endpoint_params(judge_url)))
    assert job["status"] == "succeeded", job
    metrics = job["metrics"]
    assert metrics["judged"] == 6 and metrics["preferences_written"] == 6 and metrics["dropped"] == 0
    assert metrics["consistent"] + metrics["inconsistent"] == 6
    assert metrics["annotator"] == "ai:policy"

    rows = ai_rows(db, dataset["id"])
    assert len(rows) == 6
    for row in rows:
        assert (row["source"], row["name"], row["role"]) == ("ai", "ai:policy", "ai")
        assert row["metadata"]["job_id"] == job["id"] and row["metadata"]["judge_kind"] == "endpoint"
        answers = row["metadata"]["answers"]
        assert all(answers[order]["p_a"] is not None for order in ("ab", "ba"))  # logprobs were asked for
        assert row["choice"] == expected_choice(answers)
        assert row["rationale"].startswith("ai:policy ")
        # Outside k: no slot filled, nothing complete.
        assert (row["vote_count"], row["is_complete"]) == (0, False)

    # The recorded answer is the endpoint's own: ask it again (greedy) for the first pair, shown a-first.
    params = job_params.resolve("ai_feedback", endpoint_params(judge_url)).own
    assert isinstance(params, AiFeedbackParams)
    first = rows[0]
    prompt = params.judge_prompt(QUESTION, first["response_a"], first["response_b"])
    again = httpx.post(
        f"{judge_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {admin_token}"},
        json={
            "model": "policy",
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": 1,
            "temperature": 0,
            "logprobs": True,
            "top_logprobs": 5,
        },
        timeout=60,
    ).json()
    recorded = first["metadata"]["answers"]["ab"]
    assert again["choices"][0]["message"]["content"] == recorded["text"]
    top = again["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    mass_a = sum(math.exp(t["logprob"]) for t in top if t["token"].strip() == "A")
    assert recorded["p_a"] == pytest.approx(mass_a, abs=1e-6)

    # People see none of it by default ...
    stats = admin.get(f"/api/v1/datasets/{dataset['id']}/stats").json()
    assert stats["source"] == "human" and stats["annotators"] == []
    assert stats["choices"]["a"] + stats["choices"]["b"] + stats["choices"]["tie"] == 0
    exported = admin.get(f"/api/v1/datasets/{dataset['id']}/export", params={"format": "raw"}).text
    assert exported.strip() == ""
    # ... and all of it when asked.
    ai_stats = admin.get(f"/api/v1/datasets/{dataset['id']}/stats", params={"source": "ai"}).json()
    assert [(a["name"], a["votes"]) for a in ai_stats["annotators"]] == [("ai:policy", 6)]
    raw = admin.get(f"/api/v1/datasets/{dataset['id']}/export", params={"format": "raw", "source": "ai"}).text
    lines = [json.loads(line) for line in raw.splitlines()]
    assert len(lines) == 6 and {line["source"] for line in lines} == {"ai"}
    assert {line["preference_metadata"]["job_id"] for line in lines} == {job["id"]}

    # A person is still served every comparison (k = 1, and the judge took no slot).
    person = admin.post("/api/v1/annotators", json={"name": unique("ann")}).raise_for_status().json()
    served = []
    with AnnotatorClient(person, base_url=collector_url, timeout=60) as client:
        while (response := client.get(f"/api/v1/datasets/{dataset['id']}/next")).status_code == 200:
            comparison_id = response.json()["comparison_id"]
            served.append(comparison_id)
            client.post(
                f"/api/v1/comparisons/{comparison_id}/preferences", json={"choice": "a"}
            ).raise_for_status()
    assert sorted(served) == sorted(row["comparison_id"] for row in rows)

    # AI-human agreement on the comparisons both judged: the person chose a everywhere.
    stats = admin.get(f"/api/v1/datasets/{dataset['id']}/stats").json()
    assert stats["votes"] == 6
    (agreement,) = stats["ai_agreement"]
    agreed = sum(row["choice"] == "a" for row in rows)
    assert (agreement["name"], agreement["comparisons"], agreement["agreed"]) == ("ai:policy", 6, agreed)
    assert agreement["agreement"] == pytest.approx(agreed / 6)
    low, high = agreement["agreement_ci95"]
    assert low - 1e-9 <= agreed / 6 <= high + 1e-9
    pairs = [((row["choice"], "a"), 1) for row in rows]
    assert agreement["cohen_kappa"] == (
        None if cohen_kappa(pairs) is None else pytest.approx(cohen_kappa(pairs))
    )

    # A second run finds nothing left for this judge to judge.
    again_job = wait_for_job(
        admin, submit(admin, "ai_feedback", dataset["id"], params=endpoint_params(judge_url))
    )
    assert again_job["status"] == "succeeded", again_job
    assert again_job["metrics"]["judged"] == 0 and again_job["metrics"]["preferences_written"] == 0
    assert len(ai_rows(db, dataset["id"])) == 6


class StallingProxy:
    """Passes the first `passes` requests on to the judge, then holds every later one until `release` is set:
    an endpoint that stops answering mid-run."""

    def __init__(self, target: str, passes: int) -> None:
        self.target, self.passes, self.seen = target, passes, 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.stalled = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with proxy.lock:
                    proxy.seen += 1
                    passing = proxy.seen <= proxy.passes
                if not passing:
                    proxy.stalled.set()
                    proxy.release.wait(60)
                answer = httpx.post(
                    proxy.target + self.path,
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "Authorization": self.headers["Authorization"],
                    },
                    timeout=60,
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args: Any) -> None:
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except OSError:  # the job gave up on a held request and closed its connection
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_an_endpoint_that_stops_answering_fails_the_job_and_keeps_what_was_written(
    admin: httpx.Client, db: Session, worker: Worker, judge_url: str
) -> None:
    dataset = ethics_dataset(admin, 4, with_preferences=True, skip=10)
    proxy = StallingProxy(judge_url, passes=4)  # two pairs, each in both orders
    try:
        params = endpoint_params(proxy.url, batch_size=1, concurrency=1, timeout_seconds=1)
        job = wait_for_job(admin, submit(admin, "ai_feedback", dataset["id"], params=params))
    finally:
        proxy.close()
    assert job["status"] == "failed", job
    assert f"the judge endpoint {proxy.url}/v1/chat/completions did not answer within 1 s" in job["error"]
    assert job["metrics"]["preferences_written"] == 2
    rows = ai_rows(db, dataset["id"])
    assert len(rows) == 2 and {row["metadata"]["job_id"] for row in rows} == {job["id"]}


def test_a_cancelled_run_keeps_what_it_wrote(
    admin: httpx.Client, db: Session, worker: Worker, judge_url: str
) -> None:
    dataset = ethics_dataset(admin, 4, with_preferences=False, skip=40)
    proxy = StallingProxy(judge_url, passes=2)  # the first pair in both orders
    try:
        params = endpoint_params(proxy.url, batch_size=1, concurrency=1, timeout_seconds=120)
        job_id = submit(admin, "ai_feedback", dataset["id"], params=params)
        assert proxy.stalled.wait(120), "the job never reached its second pair"
        admin.post(f"/api/v1/jobs/{job_id}/cancel").raise_for_status()
        time.sleep(1.5)  # past the job's cancel-check interval
        proxy.release.set()  # the held pair is answered; the job stops after storing it
        job = wait_for_job(admin, job_id)
    finally:
        proxy.close()
    assert job["status"] == "cancelled", job
    written = job["metrics"]["preferences_written"]
    assert 1 <= written <= 2
    rows = ai_rows(db, dataset["id"])
    assert len(rows) == written and {row["metadata"]["job_id"] for row in rows} == {job_id}


@pytest.mark.parametrize(
    ("judge", "expected"),
    [
        (
            {"base_url": "http://127.0.0.1:{closed}/v1", "model": "policy"},
            "could not be reached: ConnectError",
        ),
        (
            {"base_url": "{url}/v1", "model": "no-such-model", "api_key_env": "RLHF_JUDGE_KEY_TESTS"},
            "refused the request with HTTP 404",
        ),
        (
            {"base_url": "{url}/v1", "model": "policy", "api_key_env": "RLHF_JUDGE_KEY_UNSET"},
            "RLHF_JUDGE_KEY_UNSET is not set on the worker",
        ),
    ],
    ids=["connection refused", "error status", "api key variable unset"],
)
def test_endpoint_refusals_fail_the_job_readably(
    judge: dict[str, str], expected: str, admin: httpx.Client, db: Session, worker: Worker, judge_url: str
) -> None:
    dataset = ethics_dataset(admin, 2, with_preferences=False, skip=20)
    filled = {key: value.format(url=judge_url, closed=free_port()) for key, value in judge.items()}
    params = {**endpoint_params(judge_url), "judge": filled}
    job = wait_for_job(admin, submit(admin, "ai_feedback", dataset["id"], params=params))
    assert job["status"] == "failed", job
    assert expected in job["error"]
    assert ai_rows(db, dataset["id"]) == []


@pytest.mark.parametrize("inconsistent", ["drop", "average"])
def test_worker_judge_decides_by_the_next_token_probabilities(
    inconsistent: str, admin: httpx.Client, db: Session, worker: Worker, tmp_path: Path
) -> None:
    import torch

    from services.modeling.chat import prompt_ids
    from training_jobs.checkpoints import load_causal_lm, load_tokenizer

    model_dir = build_tiny_llama(tmp_path / "judge", seed=3)  # SmolLM2's tokenizer and chat template
    dataset = ethics_dataset(admin, 3, with_preferences=True, skip=30)
    params = {"judge": {"base_model": str(model_dir)}, "inconsistent": inconsistent, "max_prompt_tokens": 250}
    job = wait_for_job(admin, submit(admin, "ai_feedback", dataset["id"], params=params))
    assert job["status"] == "succeeded", job
    metrics = job["metrics"]
    assert metrics["judged"] == 3 and metrics["annotator"] == f"ai:{model_dir}"
    rows = ai_rows(db, dataset["id"])
    assert len(rows) == metrics["preferences_written"]
    if inconsistent == "drop":
        assert metrics["preferences_written"] == metrics["consistent"] == 3 - metrics["dropped"]
    else:  # every pair decided: by its letters, or by P(a better) averaged over the orders
        assert metrics["preferences_written"] == 3 and metrics["dropped"] == 0
    for row in rows:
        answers = row["metadata"]["answers"]
        assert row["metadata"]["judge_kind"] == "worker" and row["choice"] in ("a", "b")
        if row["metadata"]["consistent"]:
            assert row["choice"] == expected_choice(answers)
        else:
            forward, backward = answers["ab"], answers["ba"]
            average = (
                forward["p_a"] / (forward["p_a"] + forward["p_b"])
                + backward["p_b"] / (backward["p_a"] + backward["p_b"])
            ) / 2
            assert row["choice"] == ("a" if average > 0.5 else "b")

    # The stored probabilities are the model's own next-token probabilities of A and B (the first comparison,
    # response a shown as A), through its chat template.
    resolved = job_params.resolve("ai_feedback", params).own
    assert isinstance(resolved, AiFeedbackParams)
    comparison = db.execute(
        text("SELECT id, response_a, response_b FROM comparison WHERE dataset_id = :d ORDER BY id LIMIT 1"),
        {"d": dataset["id"]},
    ).one()
    tokenizer, model = load_tokenizer(str(model_dir)), load_causal_lm(str(model_dir)).eval()
    ids = prompt_ids(tokenizer, resolved.judge_prompt(QUESTION, comparison.response_a, comparison.response_b))
    with torch.inference_mode():
        probabilities = torch.softmax(model(torch.tensor([ids[-250:]])).logits[0, -1].float(), dim=-1)
    letter_a = sorted({tokenizer.encode(t, add_special_tokens=False)[0] for t in ("A", " A")})
    stored = db.execute(
        text("SELECT metadata FROM preference WHERE comparison_id = :c AND source = 'ai'"),
        {"c": comparison.id},
    ).scalar()
    if stored is not None:  # dropped when its two orders disagreed
        assert stored["answers"]["ab"]["p_a"] == pytest.approx(float(probabilities[letter_a].sum()), rel=1e-3)
    if metrics["preferences_written"]:
        assert 0 <= metrics["human_agreement"] <= 1 and metrics["human_agreement_comparisons"] >= 1
