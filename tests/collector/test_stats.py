"""Stats: counts, agreement on a case worked by hand, and policy win rates with Wilson intervals."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy.orm import Session

from services.core.orm import ModelVersion
from services.domain.comparisons import NewComparison, add_comparisons
from services.domain.intervals import wilson
from tests.helpers.collector import unique


def cast(client: httpx.Client, comparison_id: int, body: dict) -> None:
    client.post(f"/api/v1/comparisons/{comparison_id}/preferences", json=body).raise_for_status()


def test_stats_agreement_on_hand_built_case(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(4, k=3)
    c1, c2, c3, c4 = dataset["ids"]
    x, y, z = make_annotator("x"), make_annotator("y"), make_annotator("z")
    for client, choice in zip((x, y, z), ("a", "a", "a"), strict=True):
        cast(client, c1, {"choice": choice})
    for client, choice in zip((x, y, z), ("a", "a", "b"), strict=True):
        cast(client, c2, {"choice": choice, "time_spent_ms": 1000})
    for client, choice in zip((x, y, z), ("b", "tie", "skip"), strict=True):
        cast(client, c3, {"choice": choice})
    cast(x, c4, {"choice": "a"})  # a single vote: not a unit of agreement

    stats = admin.get(f"/api/v1/datasets/{dataset['id']}/stats").json()
    # Units c1 (a a a), c2 (a a b), c3 (b tie). Pairs: 3 + 3 + 1 = 7, agreeing: 3 + 1 + 0 = 4.
    # Coincidences: o_aa = 3*2/2 + 2*1/2 = 4, o_ab = o_ba = 2*1/2 = 1, o_bt = o_tb = 1*1/1 = 1;
    # n_a = 5, n_b = 2, n_t = 1, n = 8; alpha = 1 - (n - 1) * 4 / (2 * (5*2 + 5*1 + 2*1)) = 1 - 28/34.
    assert stats["agreement"] == {
        "comparisons": 3,
        "pairs": 7,
        "percent_agreement": pytest.approx(4 / 7),
        "krippendorff_alpha": pytest.approx(6 / 34),
    }
    assert stats["votes_per_comparison"] == {"3": 2, "2": 1, "1": 1}
    assert (stats["comparisons"], stats["complete"], stats["votes"], stats["skips"]) == (4, 2, 9, 1)
    assert stats["choices"] == {"a": 6, "b": 2, "tie": 1, "both_bad": 0, "skip": 1}
    by_name = {a["name"]: a for a in stats["annotators"]}
    assert (by_name["x"]["votes"], by_name["x"]["skips"], by_name["x"]["median_time_spent_ms"]) == (
        4,
        0,
        1000,
    )
    assert (by_name["z"]["votes"], by_name["z"]["skips"]) == (2, 1)
    assert stats["win_rates"] == []


def test_agreement_undefined_when_one_category(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(1, k=2)
    for client in (make_annotator(), make_annotator()):
        cast(client, dataset["ids"][0], {"choice": "b"})
    agreement = admin.get(f"/api/v1/datasets/{dataset['id']}/stats").json()["agreement"]
    assert agreement == {"comparisons": 1, "pairs": 1, "percent_agreement": 1.0, "krippendorff_alpha": None}


def test_win_rate_between_policy_versions(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client, db: Session
) -> None:
    old, new = (
        ModelVersion(name=unique("policy"), kind="policy", base_model="builtin:tiny-gpt2", path="x")
        for _ in range(2)
    )
    db.add_all([old, new])
    db.commit()
    dataset = make_dataset(0, k=1)
    # A generate_comparisons job puts each policy's answer on a random side, as here.
    ids = add_comparisons(
        db,
        dataset["id"],
        [
            NewComparison(f"q{i}", f"r{i} a", f"r{i} b", source_a_version_id=a.id, source_b_version_id=b.id)
            for i, (a, b) in enumerate([(old, new), (new, old), (old, new), (new, old), (new, old)])
        ],
    )
    voter = make_annotator()
    # new wins 3 (c0 b, c1 a, c4 a), old wins 1 (c3 b), one tie (c2).
    for cid, choice in zip(ids, ["b", "a", "tie", "b", "a"], strict=True):
        cast(voter, cid, {"choice": choice})
    (rate,) = admin.get(f"/api/v1/datasets/{dataset['id']}/stats").json()["win_rates"]
    low, high = wilson(1.5, 5) or [0.0, 1.0]
    assert rate == {
        "version_a": old.id,
        "version_b": new.id,
        "wins_a": 1,
        "wins_b": 3,
        "ties": 1,
        "win_rate_a": pytest.approx(0.3),
        "ci95_low": pytest.approx(low),
        "ci95_high": pytest.approx(high),
        "interval": "wilson",
    }
