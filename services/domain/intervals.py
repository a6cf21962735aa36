"""95 % intervals, reported beside the metric they qualify as `<metric>_ci95: [lo, hi]`: Wilson's score interval
for a share (an accuracy, a win rate) and a percentile bootstrap for a mean (a paired reward gain). Plain
Python: the worker and the collector can both use them."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
BOOTSTRAP_RESAMPLES = 2000


def wilson(successes: float, total: int) -> list[float] | None:
    """Wilson's 95 % interval for a share of `total` (None for no trials): unlike p ± z·se it stays in [0, 1]
    and does not collapse to a point at 0 or 1 on a small sample (Wilson 1927; Brown, Cai & DasGupta 2001).
    A tie in a head-to-head enters as half a success."""
    if total <= 0:
        return None
    share = successes / total
    z2 = Z95 * Z95
    centre = (share + z2 / (2 * total)) / (1 + z2 / total)
    half = Z95 * math.sqrt(share * (1 - share) / total + z2 / (4 * total * total)) / (1 + z2 / total)
    # At 0 (or all) successes the bound is exactly 0 (or 1); rounding would leave it a hair off.
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= total else min(1.0, centre + half)
    return [low, high]


def bootstrap_mean(values: Sequence[float], *, seed: int = 0) -> list[float] | None:
    """Percentile bootstrap 95 % interval of the mean of independent values (None for fewer than two); seeded,
    so a job reports the same interval for the same values."""
    if len(values) < 2:
        return None
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(values, k=len(values))) for _ in range(BOOTSTRAP_RESAMPLES))
    return [means[int(0.025 * BOOTSTRAP_RESAMPLES)], means[int(0.975 * BOOTSTRAP_RESAMPLES) - 1]]
