"""The trust score's formula (docs/quality.md): what raises it and what lowers it."""

from __future__ import annotations

import pytest

from services.domain.quality import trust_score


def test_a_newcomer_starts_at_one_half() -> None:
    assert trust_score(gold_answered=0, gold_correct=0, shared=0, agreed=0, sided=0, left=0) == 0.5


def test_gold_accuracy_counts_twice_as_much_as_agreement() -> None:
    right_on_gold = trust_score(gold_answered=30, gold_correct=30, shared=30, agreed=0, sided=0, left=0)
    agreeing = trust_score(gold_answered=30, gold_correct=0, shared=30, agreed=30, sided=0, left=0)
    assert right_on_gold == pytest.approx((2 * 31 / 32 + 1 / 32) / 3)
    assert right_on_gold > 0.6 > agreeing


def test_random_clicking_ends_near_one_half_and_always_left_near_zero() -> None:
    random_clicks = trust_score(
        gold_answered=100, gold_correct=50, shared=100, agreed=50, sided=200, left=100
    )
    always_left = trust_score(gold_answered=100, gold_correct=50, shared=100, agreed=50, sided=200, left=200)
    assert random_clicks == pytest.approx(0.5)
    assert always_left < 0.1


def test_position_bias_within_chance_costs_nothing() -> None:
    careful = trust_score(gold_answered=20, gold_correct=20, shared=20, agreed=20, sided=40, left=25)
    assert careful == trust_score(gold_answered=20, gold_correct=20, shared=20, agreed=20, sided=0, left=0)
