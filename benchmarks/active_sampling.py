"""Active sampling on real human rankings (ETHICS utilitarianism): does uncertainty sampling reach random
sampling's reward-model accuracy with fewer labels? Prints JSON and writes a PNG of the learning curves.

For each seed and each strategy (`random`, `uncertainty`), through the platform's own API and worker:

1. a dataset with that `sampling` gets a pool of training pairs (A/B sides drawn by the seed);
2. rounds: a simulated annotator labels `--batch` comparisons through `next` and votes, answering from the
   known ETHICS label except with probability `--noise` (then the other side); a reward_model job trains on
   every label so far; its accuracy on the test subset is measured; for `uncertainty`, a score_comparisons
   job rescores the open pool with the new model (the job the collector queues on promotion; submitted
   explicitly here, so that runs do not promote models under each other). The job ranks the pool as the
   server does for every uncertainty dataset: smallest margin first, with RLHF_UNCERTAINTY_RANDOM_SHARE of
   it at random positions (`--random-share`; 0 is pure margin order).

Reported: accuracy after N labels per strategy (per seed and the mean), and how many labels uncertainty
sampling needed to reach random sampling's final mean accuracy (goal, reported rather than gating: at most
70 % of random's). The `random` order is PostgreSQL's random key per comparison, not the seed's.

    python benchmarks/active_sampling.py                  # 3k pool, 1k test pairs, 5 rounds of 200, 3 seeds
    python benchmarks/active_sampling.py --pool 400 --test 200 --batch 50 --rounds 3 --seeds 1   # quick check
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `python benchmarks/active_sampling.py` runs from anywhere

from benchmarks.reward_quality import MINILM, read_pairs, run_job, test_accuracy  # noqa: E402
from benchmarks.scratch_stack import scratch_stack  # noqa: E402
from services.client import CollectorClient  # noqa: E402
from services.core.enums import Choice, JobKind, Sampling  # noqa: E402
from services.core.settings import Settings  # noqa: E402
from tests.helpers.paths import DATA_DIR  # noqa: E402

STRATEGIES = (Sampling.RANDOM, Sampling.UNCERTAINTY)
GOAL_LABEL_SHARE = 0.7


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pool", type=int, default=3000, help="training pairs offered to the annotator")
    parser.add_argument("--test", type=int, default=1000, help="test pairs the accuracy is measured on")
    parser.add_argument("--batch", type=int, default=200, help="labels per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.1, help="chance the annotator picks the worse side")
    parser.add_argument(
        "--random-share",
        type=float,
        default=Settings.model_fields["uncertainty_random_share"].default,
        help="RLHF_UNCERTAINTY_RANDOM_SHARE for the stack (the server's default unless given)",
    )
    parser.add_argument("--base-model", default=MINILM)
    parser.add_argument("--params", default="{}", help="reward_model job params (JSON)")
    parser.add_argument("--png", type=Path, default=Path("active_sampling.png"))
    parser.add_argument("--database-url", default=os.environ.get("RLHF_BENCH_POSTGRES"))
    return parser.parse_args()


def make_pool(
    client: CollectorClient, pairs: list[tuple[str, str]], sampling: Sampling, seed: int
) -> tuple[int, dict[tuple[str, str], Choice]]:
    """A dataset of the pairs, each better response on side A or B as the seed draws; and the truth, which
    only the simulated annotator knows: (response A, response B) -> the better side."""
    rng = random.Random(seed)
    dataset = client.create_dataset(f"active-{sampling}-{seed}-{uuid.uuid4().hex[:6]}", sampling=sampling)
    items, truth = [], {}
    for better, worse in pairs:
        a, b = (better, worse) if rng.random() < 0.5 else (worse, better)
        items.append({"prompt": "", "response_a": a, "response_b": b})
        truth[a, b] = Choice.A if a == better else Choice.B
    for start in range(0, len(items), 1000):
        client.add_comparisons(dataset.id, items[start : start + 1000])
    return dataset.id, truth


def label(
    annotator: CollectorClient,
    dataset_id: int,
    truth: dict[tuple[str, str], Choice],
    n: int,
    *,
    noise: float,
    rng: random.Random,
) -> int:
    """`n` labels through next and votes: the better side, except with probability `noise` the other."""
    done = 0
    while done < n and (assignment := annotator.next_comparison(dataset_id)) is not None:
        better = truth[assignment.response_a, assignment.response_b]
        worse = Choice.B if better == Choice.A else Choice.A
        annotator.vote(assignment.comparison_id, worse if rng.random() < noise else better)
        done += 1
    return done


def run_strategy(
    stack: Any,
    args: argparse.Namespace,
    sampling: Sampling,
    seed: int,
    pool: list[tuple[str, str]],
    test: list[tuple[str, str]],
) -> list[dict[str, Any]]:
    """One learning curve: rounds of labels, a reward model trained on all of them, its test accuracy."""
    from services.core.artifacts import version_path

    client: CollectorClient = stack.client
    dataset_id, truth = make_pool(client, pool, sampling, seed)
    created = client.create_annotator(f"simulated-{sampling}-{seed}")
    annotator = CollectorClient(client.base_url, created.token)
    noise_rng = random.Random(seed + 1)
    params = {"seed": seed, **json.loads(args.params)}
    curve, labels = [], 0
    for round_ in range(1, args.rounds + 1):
        labels += label(annotator, dataset_id, truth, args.batch, noise=args.noise, rng=noise_rng)
        job, wall, _ = run_job(
            client,
            JobKind.REWARD_MODEL,
            dataset_id,
            worker_pid=stack.pid("worker"),
            base_model=args.base_model,
            params=params,
        )
        assert job.model_version_id is not None
        version = client.get_model(job.model_version_id)
        accuracy = test_accuracy(version_path(version.path), test)
        point: dict[str, Any] = {
            "round": round_,
            "labels": labels,
            "test_accuracy": round(accuracy, 4),
            "train_wall_s": round(wall, 1),
        }
        if sampling == Sampling.UNCERTAINTY and round_ < args.rounds:
            scored, score_wall, _ = run_job(
                client,
                JobKind.SCORE_COMPARISONS,
                dataset_id,
                worker_pid=stack.pid("worker"),
                params={"reward_model_version_id": version.id},
            )
            point |= {"scored": scored.metrics.get("scored"), "score_wall_s": round(score_wall, 1)}
        print(f"{sampling} seed {seed}: {point}", file=sys.stderr)
        curve.append(point)
    annotator.close()
    return curve


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> float | None:
    """Labels at which a mean curve first reaches `target`, linearly interpolated; None if it never does."""
    previous = None
    for labels, accuracy in curve:
        if accuracy >= target:
            if previous is None or previous[1] >= target:
                return float(labels)
            (l0, a0), (l1, a1) = previous, (labels, accuracy)
            return l0 + (target - a0) * (l1 - l0) / (a1 - a0)
        previous = (labels, accuracy)
    return None


def plot(
    path: Path, means: dict[str, list[tuple[int, float]]], runs: dict[str, list[list[dict[str, Any]]]]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for strategy, mean in means.items():
        line = axes.plot([x for x, _ in mean], [y for _, y in mean], marker="o", label=f"{strategy} (mean)")[
            0
        ]
        for curve in runs[strategy]:
            axes.plot(
                [p["labels"] for p in curve],
                [p["test_accuracy"] for p in curve],
                color=line.get_color(),
                alpha=0.25,
                linewidth=1,
            )
    axes.set_xlabel("labels")
    axes.set_ylabel("reward model test accuracy (ETHICS)")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def run(args: argparse.Namespace) -> dict[str, Any]:
    train = read_pairs(DATA_DIR / "ethics_utilitarianism_train.csv", None)
    test = read_pairs(DATA_DIR / "ethics_utilitarianism_test.csv", args.test)
    runs: dict[str, list[list[dict[str, Any]]]] = {str(s): [] for s in STRATEGIES}
    started = time.monotonic()
    env = {"RLHF_UNCERTAINTY_RANDOM_SHARE": str(args.random_share)}
    with scratch_stack(args.database_url, env=env) as stack:
        for seed in range(args.seeds):
            pool = random.Random(seed).sample(train, args.pool)  # the same pool for both strategies
            for sampling in STRATEGIES:
                runs[str(sampling)].append(run_strategy(stack, args, sampling, seed, pool, test))
    means = {
        strategy: [
            (curves[0][i]["labels"], sum(c[i]["test_accuracy"] for c in curves) / len(curves))
            for i in range(len(curves[0]))
        ]
        for strategy, curves in runs.items()
    }
    target = means[Sampling.RANDOM][-1][1]
    needed = labels_to_reach(means[Sampling.UNCERTAINTY], target)
    share = None if needed is None else round(needed / means[Sampling.RANDOM][-1][0], 3)
    plot(args.png, means, runs)
    return {
        "benchmark": "active_sampling",
        "pool": args.pool,
        "test_pairs": len(test),
        "batch": args.batch,
        "rounds": args.rounds,
        "seeds": args.seeds,
        "noise": args.noise,
        "random_share": args.random_share,
        "base_model": args.base_model,
        "mean_curves": {
            s: [{"labels": x, "test_accuracy": round(y, 4)} for x, y in m] for s, m in means.items()
        },
        "runs": runs,
        "random_final_accuracy": round(target, 4),
        "uncertainty_labels_to_reach_it": needed,
        "uncertainty_label_share": share,
        "goal_label_share_le": GOAL_LABEL_SHARE,
        "goal_met": share is not None and share <= GOAL_LABEL_SHARE,
        "png": str(args.png),
        "wall_seconds": round(time.monotonic() - started, 1),
        "cpu_count": os.cpu_count(),
    }


def main() -> None:
    # Trainers print their logs to stdout; stdout carries only the JSON result.
    with contextlib.redirect_stdout(sys.stderr):
        result = run(parse_args())
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
