"""PPO's (or RLOO's, GRPO's) gain on real data with the job's default params: a MiniLM reward model from
movie-review polarity (pairwise preferences, or with --reward classifier a sentiment classifier of labelled
reviews), then a ppo, rloo or grpo job on a policy, all through the API and a real Celery worker; prints JSON.

1. Imports pairs from movie_review_polarity_v2.zip (Pang & Lee 2004) into a dataset through the collector's
   API: review i of each class gives a pair whose prompt is the first words of one of the two reviews, whose
   chosen response is the end of the positive review and whose rejected response is the end of the negative
   one (a review's last sentences are mostly its verdict). For a chat policy (--prompt-style instruction, the
   default for every policy but the built-in GPT-2) the prompt asks for a movie opinion that starts with
   those words, so the policy writes through its chat template.
2. Trains a reward_model job on sentence-transformers/all-MiniLM-L6-v2 on those pairs (its held-out pairwise
   accuracy is reported, with its 95 % interval).
3. Runs a ppo (--algo ppo), rloo or grpo job on --policy against that reward model, with no params but the reward
   model version: what `rlhf train ppo` does, so the kind's defaults and the policy's per-base-model defaults
   (services/domain/job_params/presets.py) are what is measured. The job holds out 10 % of the dataset's
   prompts and samples them before and after training: reward_before (the baseline, measured in the same
   run), reward_after, the gain in standard deviations of the starting reward with its 95 % interval
   (bootstrapped over held-out prompts), and the KL to the reference.

With --reward classifier, steps 1 and 2 are instead: the endings of the pairs' reviews (their last 48 words,
labelled pos or neg: 2,000 reviews for 1,000 pairs) are imported into a labelled dataset, and a classifier job fine-tunes MiniLM on them (its
held-out accuracy with its 95 % interval is reported); its version's reward is the logit of `pos` given the
response alone (the exercise of TRL's sentiment example, lvwerra/distilbert-imdb). The policy job's prompts are
the first words of the reviews, imported as a prompt dataset.

Goals: on builtin:tiny-gpt2, a gain of at least 0.5 σ whose interval excludes 0, the job done within 5 minutes;
on another policy, at least 1 σ at a KL below 10 nats within 45 minutes. The machine may be shared: the load
average is printed beside the wall times.

    python benchmarks/ppo_gain.py                                   # ppo on builtin:tiny-gpt2, no params
    python benchmarks/ppo_gain.py --algo rloo
    python benchmarks/ppo_gain.py --algo grpo
    python benchmarks/ppo_gain.py --reward classifier               # a sentiment classifier as the reward
    python benchmarks/ppo_gain.py --pairs 300 --params '{"total_episodes": 160}' --worker-threads 1
    python benchmarks/ppo_gain.py --policy builtin:smollm2-135m-instruct [--algo rloo]   # LoRA on SmolLM2

The stack (scratch database, Redis, collector, worker) is benchmarks/scratch_stack.py's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.reward_quality import run_job  # noqa: E402
from benchmarks.scratch_stack import scratch_stack  # noqa: E402
from services.client import CollectorClient  # noqa: E402
from services.core.enums import DatasetKind, ImportFormat, JobKind  # noqa: E402
from tests.helpers.paths import DATA_DIR  # noqa: E402
from tests.helpers.sentiment import labelled_reviews, read_reviews  # noqa: E402

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
TINY_POLICY = "builtin:tiny-gpt2"
GOALS = {
    TINY_POLICY: {"gain_in_std": 0.5, "interval_above_zero": True, "job_wall_seconds": 300},
    "other": {"gain_in_std": 1.0, "kl_below": 10.0, "job_wall_seconds": 2700},
}
PROMPT_WORDS = 5
PROMPT_STYLES = {
    "opener": "{opener}",
    "instruction": 'Give your opinion of a movie in two or three sentences, starting with "{opener}".',
}
RESPONSE_WORDS = 48

REWARD_PARAMS: dict[str, Any] = {
    "learning_rate": 1e-4,
    "per_device_train_batch_size": 16,
    "num_train_epochs": 1,
}
# The classifier job's own defaults, but for what it scores: the logit of the positive class.
CLASSIFIER_PARAMS: dict[str, Any] = {"label": "pos", "transform": "logit"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--pairs", type=int, default=1000, help="pairs to import (at most 1,000)")
    parser.add_argument(
        "--reward",
        choices=["reward_model", "classifier"],
        default="reward_model",
        help="the reward: a Bradley-Terry reward_model job on pairs, or a classifier job on labelled reviews",
    )
    parser.add_argument(
        "--reward-params", default="{}", help="the reward job's params (JSON), over the defaults"
    )
    parser.add_argument(
        "--algo", choices=["ppo", "rloo", "grpo"], default="ppo", help="the policy job's kind"
    )
    parser.add_argument(
        "--policy", default=TINY_POLICY, help="the policy's base model (default: %(default)s)"
    )
    parser.add_argument(
        "--prompt-style",
        choices=sorted(PROMPT_STYLES),
        help="prompts: a review's first words (default for builtin:tiny-gpt2) or an instruction (else)",
    )
    parser.add_argument(
        "--params",
        default="{}",
        help="the policy job's params (JSON); default none: the defaults are measured",
    )
    parser.add_argument(
        "--worker-threads", type=int, help="OMP_NUM_THREADS for the worker (default: torch's, all cores)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("RLHF_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="server on which a scratch database is created (and dropped)",
    )
    args = parser.parse_args()
    if args.algo not in set(JobKind):
        parser.error(f"--algo {args.algo}: this version of the platform has no {args.algo} job kind")
    return args


def review_pairs(archive: Path, limit: int, *, style: str = "opener") -> list[dict[str, str]]:
    """{"prompt", "chosen", "rejected"}: the i-th positive and negative reviews (files in name order)."""
    by_label = read_reviews(archive)
    pairs = []
    for i, (positive, negative) in enumerate(zip(by_label["pos"], by_label["neg"], strict=True)):
        opener = (positive if i % 2 == 0 else negative)[0].split()[:PROMPT_WORDS]
        pairs.append(
            {
                "prompt": PROMPT_STYLES[style].format(opener=" ".join(opener)),
                "chosen": " " + _ending(positive),
                "rejected": " " + _ending(negative),
            }
        )
    return pairs[:limit]


def _ending(lines: list[str]) -> str:
    return " ".join(" ".join(lines[-2:]).split()[:RESPONSE_WORDS])


def main() -> None:
    # Trainers print to stdout; stdout carries only the JSON result.
    with contextlib.redirect_stdout(sys.stderr):
        result = run(parse_args())
    print(json.dumps(result, indent=2))


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    defaults = CLASSIFIER_PARAMS if args.reward == "classifier" else REWARD_PARAMS
    reward_params = {**defaults, **json.loads(args.reward_params)}
    policy_params = json.loads(args.params)
    kind = JobKind(args.algo)
    style = args.prompt_style or ("opener" if args.policy == TINY_POLICY else "instruction")
    pairs = review_pairs(args.data_dir / "movie_review_polarity_v2.zip", args.pairs, style=style)
    env = {"OMP_NUM_THREADS": str(args.worker_threads)} if args.worker_threads else None
    goals = GOALS.get(args.policy, GOALS["other"])
    result: dict[str, Any] = {
        "benchmark": "ppo_gain",
        "algo": args.algo,
        "reward": args.reward,
        "data": {
            "pairs": len(pairs),
            "distinct_prompts": len({pair["prompt"] for pair in pairs}),
            "prompt_style": style,
            "example_prompt": pairs[0]["prompt"],
        },
        "goals": goals,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        "worker_threads": args.worker_threads or "default",
        "mode": "HTTP API + Celery worker",
    }
    # The worker's threads (OMP_NUM_THREADS) go to every process of the stack: only the worker computes.
    with scratch_stack(args.database_url, env=env) as stack:
        client, worker_pid = stack.client, stack.pid("worker")
        if args.reward == "classifier":
            prompts_id, reward_version_id, result["reward_model"] = train_classifier(
                client, worker_pid, pairs, reward_params, args.data_dir / "movie_review_polarity_v2.zip"
            )
        else:
            prompts_id, reward_version_id, result["reward_model"] = train_reward_model(
                client, worker_pid, pairs, reward_params
            )
        print(f"reward model {reward_version_id} ready; {kind}", file=sys.stderr)
        policy_job, policy_wall, policy_mb = run_job(
            client,
            kind,
            prompts_id,
            base_model=args.policy,
            params={**policy_params, "reward_model_version_id": reward_version_id},
            worker_pid=worker_pid,
        )
    metrics = policy_job.metrics
    config, sources = policy_job.config, policy_job.config.get("param_sources", {})
    gain, interval = metrics["reward_gain_in_std"], metrics["reward_gain_in_std_ci95"]
    result[args.algo] = {
        "policy": args.policy,
        "params": policy_params,
        "defaults_used": {
            name: config[name] for name, source in sorted(sources.items()) if source in ("base_model", "kind")
        },
        "steps": metrics.get(f"{args.algo}_steps"),
        "train_prompts": metrics["train_prompts"],
        "held_out_prompts": metrics["eval_prompts"],
        "held_out_samples": metrics["eval_samples"],
        "reward_before": round(metrics["reward_before"], 4),
        "reward_before_std": round(metrics["reward_before_std"], 4),
        "reward_after": round(metrics["reward_after"], 4),
        "reward_after_std": round(metrics["reward_after_std"], 4),
        "gain_in_std": round(gain, 3),
        "gain_in_std_ci95": _rounded(interval),
        "kl": round(metrics["kl"], 3),
        "warnings": metrics.get("warnings", []),
        "wall_seconds": round(policy_wall, 1),
        "train_seconds": metrics["train_seconds"],
        "peak_worker_rss_mb": policy_mb,
        "samples": [line.split(" ", 1)[1] for line in policy_job.log_tail.splitlines() if "reward " in line][
            -6:
        ],
    }
    met = gain >= goals["gain_in_std"] and policy_wall <= goals["job_wall_seconds"]
    if goals.get("interval_above_zero"):
        met = met and interval is not None and interval[0] > 0
    if "kl_below" in goals:
        met = met and metrics["kl"] < goals["kl_below"]
    result["goal_met"] = met
    result["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    return result


def train_reward_model(
    client: CollectorClient, worker_pid: int, pairs: list[dict[str, str]], params: dict[str, Any]
) -> tuple[int, int, dict[str, Any]]:
    """The pairs as a preference dataset and a reward_model job on them: (the dataset, whose prompts the
    policy job reads; the reward version; the reward model's figures)."""
    dataset = client.create_dataset("movie-review-polarity")
    body = "".join(json.dumps(pair) + "\n" for pair in pairs).encode()
    client.import_jsonl(dataset.id, body, format=ImportFormat.TRL, with_preferences=True)
    print(f"imported {len(pairs)} pairs; training the reward model", file=sys.stderr)
    job, wall, peak_mb = run_job(
        client, JobKind.REWARD_MODEL, dataset.id, base_model=MINILM, params=params, worker_pid=worker_pid
    )
    rm = job.metrics
    assert job.model_version_id is not None
    return (
        dataset.id,
        job.model_version_id,
        {
            "kind": "reward_model",
            "base_model": MINILM,
            "params": params,
            "held_out_accuracy": rm["eval_accuracy"],
            "held_out_accuracy_ci95": _rounded(rm.get("eval_accuracy_ci95")),
            "train_pairs": rm["train_pairs"],
            "eval_pairs": rm["eval_pairs"],
            "wall_seconds": round(wall, 1),
            "train_seconds": rm["train_seconds"],
            "peak_worker_rss_mb": peak_mb,
        },
    )


def train_classifier(
    client: CollectorClient,
    worker_pid: int,
    pairs: list[dict[str, str]],
    params: dict[str, Any],
    archive: Path,
) -> tuple[int, int, dict[str, Any]]:
    """The pairs' reviews' endings as a labelled dataset and a classifier job on it; the pairs' prompts as a prompt
    dataset: (the prompt dataset, the classifier's reward version, the classifier's figures)."""
    rows = labelled_reviews(len(pairs), words=RESPONSE_WORDS, archive=archive)  # the reviews of the pairs
    labelled = client.create_dataset("movie-review-polarity-labelled", kind=DatasetKind.LABELLED)
    body = "".join(json.dumps(row) + "\n" for row in rows).encode()
    client.import_jsonl(labelled.id, body, format=ImportFormat.LABELLED)
    prompts = client.create_dataset("movie-review-openers", kind=DatasetKind.PROMPT)
    body = "".join(json.dumps({"prompt": pair["prompt"]}) + "\n" for pair in pairs).encode()
    client.import_jsonl(prompts.id, body, format=ImportFormat.TRL)
    print(f"imported {len(rows)} labelled reviews; training the classifier", file=sys.stderr)
    job, wall, peak_mb = run_job(
        client, JobKind.CLASSIFIER, labelled.id, base_model=MINILM, params=params, worker_pid=worker_pid
    )
    m = job.metrics
    assert job.model_version_id is not None
    return (
        prompts.id,
        job.model_version_id,
        {
            "kind": "classifier",
            "base_model": MINILM,
            "params": params,
            "held_out_accuracy": m["eval_accuracy"],
            "held_out_accuracy_ci95": _rounded(m.get("eval_accuracy_ci95")),
            "held_out_majority_accuracy": m["eval_majority_accuracy"],
            "train_examples": m["train_examples"],
            "eval_examples": m["eval_examples"],
            "warnings": m.get("warnings", []),
            "wall_seconds": round(wall, 1),
            "train_seconds": m["train_seconds"],
            "peak_worker_rss_mb": peak_mb,
        },
    )


def _rounded(interval: list[float] | None) -> list[float] | None:
    return [round(bound, 3) for bound in interval] if interval else None


if __name__ == "__main__":
    main()
