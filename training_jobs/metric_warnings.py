"""`metrics.warnings`: plain sentences saying when a job's figures mean less than they seem to (the runner
makes sure every job's metrics carry the list, empty when nothing is wrong)."""

from __future__ import annotations

from typing import Any

# Below this many held-out pairs an accuracy's 95 % interval is wider than ±14 points (Wilson, at 50 %).
MIN_EVAL_PAIRS = 50


def small_eval(
    eval_pairs: int, metric: str, value: Any, interval: list[float] | None, *, what: str = "pairs"
) -> list[str]:
    if eval_pairs >= MIN_EVAL_PAIRS:
        return []
    if eval_pairs == 0:
        return [f"no held-out {what}: {metric} was not measured (raise eval_fraction or add data)"]
    shown = f"[{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "unknown"
    return [
        f"{metric} {value:.3g} was measured on only {eval_pairs} held-out {what} (fewer than {MIN_EVAL_PAIRS}): "
        f"its 95 % interval is {shown}"
    ]


def below_baseline(accuracy: float | None, baseline: float, interval: list[float] | None) -> list[str]:
    """When a classifier is not clearly better than always answering the most common training label."""
    if accuracy is None or interval is None or interval[0] > baseline:
        return []
    return [
        f"eval_accuracy {accuracy:.3f} (95 % interval [{interval[0]:.2f}, {interval[1]:.2f}]) is not clearly "
        f"above {baseline:.3f}, the accuracy of always answering the most common training label"
    ]


def small_data(rows: int, batch_size: int, what: str) -> list[str]:
    """When the training data does not fill one batch: every step sees the same few rows."""
    if rows >= batch_size:
        return []
    return [
        f"only {rows} training {what} for a batch of {batch_size}: each step repeats them "
        "(add data or lower per_device_train_batch_size)"
    ]


def no_gain(gain_in_std: float | None, interval: list[float] | None) -> list[str]:
    """When the held-out reward did not clearly rise: the gain's interval reaches 0 or below."""
    if gain_in_std is None or interval is None:
        return ["the held-out reward's change could not be measured (too few held-out prompts or no spread)"]
    if interval[0] > 0:
        return []
    return [
        f"the held-out reward did not improve: {gain_in_std:+.2f} σ, 95 % interval "
        f"[{interval[0]:+.2f}, {interval[1]:+.2f}] σ"
    ]
