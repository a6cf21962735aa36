"""The 95 % intervals beside metrics (services/domain/intervals.py)."""

from __future__ import annotations

import pytest

from services.domain.intervals import bootstrap_mean, wilson


def test_wilson_matches_the_published_interval_and_stays_inside_0_1():
    # Brown, Cai & DasGupta (2001), and any statistics package: 8 of 10 → [0.490, 0.943].
    low, high = wilson(8, 10) or [0.0, 0.0]
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    all_right = wilson(2, 2)
    assert all_right is not None and all_right[1] == 1.0 and all_right[0] < 0.35  # 2 of 2 proves little
    assert wilson(0, 0) is None


def test_wilson_matches_scipy() -> None:
    # scipy.stats.binomtest(81, 263).proportion_ci(method="wilson") gives (0.25529, 0.36621).
    low, high = wilson(81, 263) or [0.0, 1.0]
    assert low == pytest.approx(0.2552885, abs=1e-6) and high == pytest.approx(0.3662096, abs=1e-6)


def test_bootstrap_mean_brackets_the_mean_narrows_with_data_and_repeats():
    values = [float(i % 7) - 3 for i in range(200)]
    low, high = bootstrap_mean(values) or [0.0, 0.0]
    few_low, few_high = bootstrap_mean(values[:20]) or [0.0, 0.0]

    assert low < sum(values) / len(values) < high
    assert high - low < few_high - few_low
    assert bootstrap_mean(values) == [low, high]
    assert bootstrap_mean([1.0]) is None and bootstrap_mean([0.0, 0.0]) == [0.0, 0.0]
