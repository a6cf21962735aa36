"""AI feedback against real human rankings (ETHICS utilitarianism test pairs, tests/data/SOURCES.md): how often
does an ai_feedback job's judge agree with the people who ranked the pairs? Prints JSON.

Through the platform's own API and worker: the pairs are imported with their human winners (the `import`
annotator, source human; A/B sides randomised by the import), an ai_feedback job judges every pair in both
orders with the judge answering a single letter (the worker reads P(A) and P(B) from the next-token logits;
through the inference service, from the first token's log-probabilities), and the dataset's stats give the
AI-human agreement with its 95 % Wilson interval and Cohen's κ. Measured in the same run, from the same
answers and pairs (the raw export keeps the judge's answers in both orders):

- `first_order_only`: the verdict of the a-first order alone, what a judge without position-bias control gives;
- `probability_average`: P(a better) averaged over both orders for every pair (no ties), what
  `--inconsistent average` records for the pairs whose two orders disagree;
- `longer_response`: picking the longer scenario, a no-model baseline; chance is 0.5.

    nice -n 10 python benchmarks/ai_feedback.py                       # 200 pairs, SmolLM2-135M-Instruct on the worker
    python benchmarks/ai_feedback.py --pairs 20 --judge builtin:tiny-gpt2   # a quick check of the machinery
    python benchmarks/ai_feedback.py --via inference                  # the judge behind /v1/chat/completions
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `python benchmarks/ai_feedback.py` runs from anywhere

from benchmarks.scratch_stack import scratch_stack  # noqa: E402
from services.client import CollectorClient  # noqa: E402
from services.core.enums import ExportFormat, ImportFormat, JobKind, JobStatus, SourceFilter  # noqa: E402
from services.domain.intervals import wilson  # noqa: E402
from tests.helpers.paths import DATA_DIR  # noqa: E402

QUESTION = "Which of these two situations is more pleasant for the person in it?"
PRINCIPLE = (
    "The better response describes the situation that is more pleasant for the person experiencing it."
)

# The question of the default template in fewer tokens; still answered with one letter.
SHORT_TEMPLATE = (
    "{prompt}\n\nA: {response_a}\nB: {response_b}\n\n{principles}\n"
    "Which is better? Answer with a single letter: A or B."
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=200, help="ETHICS test pairs judged")
    parser.add_argument("--skip", type=int, default=0, help="start at this pair of the test split")
    parser.add_argument("--judge", default="builtin:smollm2-135m-instruct", help="the judge's base model")
    parser.add_argument("--via", choices=("worker", "inference"), default="worker")
    parser.add_argument("--batch-size", type=int, default=8, help="pairs per batch (each judged in 2 orders)")
    parser.add_argument("--inconsistent", choices=("tie", "drop", "average"), default="tie")
    parser.add_argument(
        "--template",
        choices=("default", "short"),
        default="short",
        help="the job's default prompt template, or SHORT_TEMPLATE (half the tokens: twice as fast on a CPU)",
    )
    parser.add_argument("--threads", default="2", help="OMP_NUM_THREADS of the stack's processes")
    parser.add_argument("--database-url", default=os.environ.get("RLHF_BENCH_POSTGRES"))
    return parser.parse_args()


def ethics_pairs(n: int, skip: int) -> list[tuple[str, str]]:
    with (DATA_DIR / "ethics_utilitarianism_test.csv").open(newline="") as handle:
        rows = [(row[0].strip(), row[1].strip()) for row in csv.reader(handle) if len(row) == 2]
    return rows[skip : skip + n]


def judge_params(args: argparse.Namespace, inference_port: str) -> dict[str, Any]:
    if args.via == "inference":
        judge: dict[str, Any] = {
            "base_url": f"http://127.0.0.1:{inference_port}/v1",
            "model": "policy",
            "api_key_env": "RLHF_JUDGE_KEY_BENCHMARK",
        }
    else:
        judge = {"base_model": args.judge}
    return {
        "judge": judge,
        "principles": [PRINCIPLE],
        "batch_size": args.batch_size,
        "concurrency": 8,
        "inconsistent": args.inconsistent,
        **({"prompt_template": SHORT_TEMPLATE} if args.template == "short" else {}),
    }


def share(hits: int, total: int) -> dict[str, Any]:
    return {"agreement": hits / total if total else None, "ci95": wilson(hits, total), "n": total}


def baselines(client: CollectorClient, dataset_id: int) -> dict[str, Any]:
    """The same run's answers scored other ways, and the length baseline, from the raw export of every vote."""
    with client.export(dataset_id, format=ExportFormat.RAW, source=SourceFilter.ALL) as chunks:
        body = b"".join(chunks)  # HTTP chunks do not end at line ends
    rows = [json.loads(line) for line in body.decode().splitlines() if line]
    human = {row["comparison_id"]: row for row in rows if row["source"] == "human"}
    judged = [row for row in rows if row["source"] == "ai"]
    first_hits = average_hits = average_n = length_hits = 0
    for row in judged:
        label = human[row["comparison_id"]]["choice"]
        answers = row["preference_metadata"]["answers"]
        first_hits += {"A": "a", "B": "b"}.get(answers["ab"]["letter"]) == label
        forward, backward = answers["ab"], answers["ba"]
        if None not in (forward["p_a"], forward["p_b"], backward["p_a"], backward["p_b"]):
            p_forward = forward["p_a"] / max(
                forward["p_a"] + forward["p_b"], 1e-12
            )  # P(a) with a shown first
            p_backward = backward["p_b"] / max(backward["p_a"] + backward["p_b"], 1e-12)  # a shown second
            average_hits += ("a" if (p_forward + p_backward) / 2 >= 0.5 else "b") == label
            average_n += 1
    for comparison in human.values():
        longer = "a" if len(comparison["response_a"]) >= len(comparison["response_b"]) else "b"
        length_hits += longer == comparison["choice"]
    return {
        "first_order_only": share(first_hits, len(judged)),
        "probability_average": share(average_hits, average_n),
        "longer_response": share(length_hits, len(human)),
    }


def main() -> None:
    args = parse_args()
    pairs = ethics_pairs(args.pairs, args.skip)
    admin_token = secrets.token_hex(32)  # also the judge's key to the stack's own inference service
    env = {
        "OMP_NUM_THREADS": args.threads,
        "RLHF_ADMIN_TOKEN": admin_token,
        "RLHF_JUDGE_KEY_BENCHMARK": admin_token,
    }
    if args.via == "inference":
        env["RLHF_POLICY_MODEL"] = args.judge
    with scratch_stack(args.database_url, with_inference=args.via == "inference", env=env) as stack:
        client = stack.client
        body = "".join(json.dumps({"prompt": QUESTION, "chosen": a, "rejected": b}) + "\n" for a, b in pairs)
        imported = client.create_and_import(
            "ethics-test-ai-feedback", body.encode(), format=ImportFormat.TRL, with_preferences=True
        )
        started = time.monotonic()
        params = judge_params(args, os.environ["RLHF_INFERENCE_PORT"])
        job = client.submit_job(JobKind.AI_FEEDBACK, imported.dataset_id, params=params)
        last = [0.0]

        def show(state: Any) -> None:
            if time.monotonic() - last[0] > 30:
                print(f"  ai_feedback job {state.id}: {state.status} {state.progress:.0%}", file=sys.stderr)
                last[0] = time.monotonic()

        final = client.follow(job.id, on_update=show)
        wall = time.monotonic() - started
        print(f"job metrics: {json.dumps(final.metrics)}", file=sys.stderr)  # kept if the report fails
        if final.status != JobStatus.SUCCEEDED:
            raise RuntimeError(f"the ai_feedback job ended {final.status}: {final.error}")
        stats = client.stats(imported.dataset_id)
        (agreement,) = stats.ai_agreement
        metrics = final.metrics
        report = {
            "benchmark": "ai_feedback",
            "data": f"ETHICS utilitarianism test pairs {args.skip}..{args.skip + len(pairs) - 1}",
            "pairs": len(pairs),
            "judge": args.judge,
            "via": args.via,
            "inconsistent": args.inconsistent,
            "template": args.template,
            "judgements": 2 * metrics["judged"],
            "wall_seconds": round(wall, 1),
            "seconds_per_judgement": round(wall / max(1, 2 * metrics["judged"]), 3),
            "agreement_with_people": {
                "agreement": agreement.agreement,
                "ci95": agreement.agreement_ci95,
                "cohen_kappa": agreement.cohen_kappa,
                "n": agreement.comparisons,
                "ties": agreement.ai_ties,
                "note": "a tie (the two orders disagreed, with --inconsistent tie) counts as a disagreement",
            },
            "consistent_pairs": metrics["consistent"],
            "inconsistent_pairs": metrics["inconsistent"],
            "first_position_rate": metrics["first_position_rate"],
            "same_run": baselines(client, imported.dataset_id),
            "chance": 0.5,
        }
        # People's labels here are a or b, so every agreement is on a pair whose two orders agreed.
        report["agreement_on_consistent_pairs"] = share(agreement.agreed, metrics["consistent"])
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
