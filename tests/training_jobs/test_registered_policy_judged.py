"""A policy trained elsewhere comes back: registered from its folder, a generate_comparisons job samples it
against the current (promoted) policy on the real worker, simulated annotators judge the pairs through the
annotation API (next, preferences), and the dataset's stats give its win rate with a 95 % interval."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.client import CollectorClient
from services.core.enums import Choice, DatasetKind
from services.core.orm import Comparison, ModelVersion
from tests.helpers.jobs import Worker, create_dataset, submit, wait_for_job
from tests.helpers.tiny_models import build_tiny_gpt2

JUDGES = 3
PROMPTS = 8


@pytest.fixture
def client(collector_url: str, admin_token: str, db: Session) -> Iterator[CollectorClient]:
    """The admin's typed client; the promoted policy is put back as it was afterwards."""
    promoted = db.scalar(select(ModelVersion.id).where(ModelVersion.promoted, ModelVersion.kind == "policy"))
    with CollectorClient(collector_url, admin_token, token_source="the test's admin token") as admin:
        yield admin
        current = [v for v in admin.list_models() if v.kind == "policy" and v.promoted]
        for version in current:
            if version.id != promoted:
                admin.unpromote(version.id)
        if promoted is not None and not current:
            admin.promote(promoted)


def longer(item: Any) -> Choice:
    """The simulated annotators' taste: the longer response (a tie when equally long)."""
    a, b = len(item.response_a), len(item.response_b)
    return Choice.TIE if a == b else Choice.A if a > b else Choice.B


def test_registered_policy_is_judged_against_the_current_one_and_gets_a_win_rate(
    client: CollectorClient, admin: httpx.Client, worker: Worker, tmp_path: Path, db: Session
) -> None:
    current = client.register_policy(str(build_tiny_gpt2(tmp_path / "current", seed=12)))
    client.promote(current.id)
    outside = client.register_policy(str(build_tiny_gpt2(tmp_path / "outside", seed=11)))
    prompts = create_dataset(admin, PROMPTS, with_preferences=False)
    judged = client.create_dataset(
        f"new-vs-old-{outside.id}", kind=DatasetKind.PREFERENCE, annotations_per_comparison=JUDGES
    )

    params = {
        "policy_version_id": outside.id,
        "other_policy_version_id": current.id,
        "target_dataset_id": judged.id,
        "max_new_tokens": 8,
    }
    job = wait_for_job(admin, submit(admin, "generate_comparisons", prompts["id"], params=params))
    assert job["status"] == "succeeded", job
    assert job["metrics"]["comparisons"] == PROMPTS

    votes: dict[int, list[Choice]] = {}
    for judge in range(JUDGES):
        created = client.create_annotator(f"judge {judge} of {outside.name}", datasets=[judged.id])
        with client.as_token(created.token, token_source="a simulated judge") as annotator:
            while (item := annotator.next_comparison(judged.id)) is not None:
                choice = longer(item)
                annotator.vote(item.comparison_id, choice)
                votes.setdefault(item.comparison_id, []).append(choice)
    stats = client.stats(judged.id)

    assert sum(len(choices) for choices in votes.values()) == PROMPTS * JUDGES
    sources = {
        row.id: (row.source_a_version_id, row.source_b_version_id)
        for row in db.scalars(select(Comparison).where(Comparison.dataset_id == judged.id))
    }
    tally = {"wins": 0, "losses": 0, "ties": 0}
    for comparison_id, choices in votes.items():
        on_a, _ = sources[comparison_id]
        for choice in choices:
            if choice == Choice.TIE:
                tally["ties"] += 1
            else:
                tally["wins" if (choice == Choice.A) == (on_a == outside.id) else "losses"] += 1
    [rate] = stats.win_rates
    assert {rate.version_a, rate.version_b} == {outside.id, current.id}
    flipped = rate.version_a != outside.id
    wins, losses = (rate.wins_b, rate.wins_a) if flipped else (rate.wins_a, rate.wins_b)
    assert (wins, losses, rate.ties) == (tally["wins"], tally["losses"], tally["ties"])
    outside_rate = 1 - rate.win_rate_a if flipped else rate.win_rate_a
    assert outside_rate == pytest.approx((wins + rate.ties / 2) / (PROMPTS * JUDGES))
    assert 0 <= rate.ci95_low <= rate.win_rate_a <= rate.ci95_high <= 1 and rate.ci95_low < rate.ci95_high
