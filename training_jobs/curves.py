"""The PNG of a job's training curves, drawn from the metrics its trainers logged."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

# Logged numbers that are bookkeeping, not curves.
SKIPPED = {
    "step",
    "epoch",
    "total_flos",
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
}
MAX_PANELS = 12


def plot_curves(history: list[dict[str, Any]], path: Path, *, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on workers
    import matplotlib.pyplot as plt

    keys: list[str] = []
    for entry in history:
        keys.extend(key for key in entry if key not in SKIPPED and key not in keys)
    keys = keys[:MAX_PANELS]
    columns = min(3, max(1, len(keys)))
    rows = max(1, math.ceil(len(keys) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.0 * rows), squeeze=False)
    for axis in axes.flat[len(keys) :]:
        axis.axis("off")
    if not keys:
        axes[0][0].text(0.5, 0.5, "no training metrics were logged", ha="center", va="center")
    for axis, key in zip(axes.flat, keys, strict=False):
        points = [(entry["step"], entry[key]) for entry in history if key in entry and "step" in entry]
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="." if len(points) < 30 else None)
        axis.set_title(key, fontsize=9)
        axis.set_xlabel("step", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
