"""Many annotators pulling and voting at once against the real server and PostgreSQL."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.helpers.collector import AnnotatorClient

ANNOTATORS = 20
COMPARISONS = 40
K = 3


def test_twenty_annotators_fill_every_comparison_exactly_k_times(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client, db: Session
) -> None:
    dataset = make_dataset(COMPARISONS, k=K)
    clients = [make_annotator() for _ in range(ANNOTATORS)]
    acknowledged: list[tuple[int, int, str]] = []  # (annotator, comparison, choice) of every 201
    unexpected: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(ANNOTATORS)

    def work(template: AnnotatorClient, seed: int) -> None:
        rng = random.Random(seed)
        # Each thread its own client (own connection pool), as separate browsers would be.
        with httpx.Client(base_url=str(template.base_url), headers=template.headers, timeout=60) as client:
            start.wait()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                got = client.get(f"/api/v1/datasets/{dataset['id']}/next")
                if got.status_code == 204:
                    # Others may still skip work back into the pool: stop only when the dataset is done.
                    if admin_remaining() == 0:
                        return
                    time.sleep(0.05)
                    continue
                if got.status_code != 200:
                    unexpected.append(f"next {got.status_code} {got.text}")
                    return
                cid = got.json()["comparison_id"]
                choice = rng.choice(["a", "b", "tie", "a", "b", "skip"] if seed < 3 else ["a", "b", "tie"])
                posted = client.post(f"/api/v1/comparisons/{cid}/preferences", json={"choice": choice})
                with lock:
                    if posted.status_code == 201:
                        acknowledged.append((template.annotator["id"], cid, choice))
                    else:
                        unexpected.append(f"vote {posted.status_code} {posted.text}")
            unexpected.append("deadline passed")

    admin_lock = threading.Lock()

    def admin_remaining() -> int:
        with admin_lock:
            return admin.get(f"/api/v1/datasets/{dataset['id']}").json()["remaining"]

    threads = [threading.Thread(target=work, args=(c, i)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert unexpected == []
    rows = db.execute(
        text(
            "SELECT p.comparison_id, p.annotator_id, p.choice FROM preference p "
            "JOIN comparison c ON c.id = p.comparison_id WHERE c.dataset_id = :id"
        ),
        {"id": dataset["id"]},
    ).all()
    # Nothing lost, nothing extra: every acknowledged vote is stored, and only those.
    assert sorted((a, c, ch) for c, a, ch in rows) == sorted(acknowledged)
    # No annotator judged a comparison twice.
    assert len({(c, a) for c, a, _ in rows}) == len(rows)
    # Every comparison ends with exactly K slot-filling votes.
    filled = Counter(c for c, _, choice in rows if choice != "skip")
    assert filled == {cid: K for cid in dataset["ids"]}
    state = db.execute(
        text(
            "SELECT count(*) FILTER (WHERE vote_count = :k AND is_complete), count(*) FROM comparison WHERE dataset_id = :id"
        ),
        {"id": dataset["id"], "k": K},
    ).one()
    assert tuple(state) == (COMPARISONS, COMPARISONS)
    assert (
        db.execute(
            text(
                "SELECT count(*) FROM lease l JOIN comparison c ON c.id = l.comparison_id WHERE c.dataset_id = :id"
            ),
            {"id": dataset["id"]},
        ).scalar_one()
        == 0
    )
