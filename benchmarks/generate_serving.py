"""/generate throughput: tokens/s for 1 and 16 concurrent clients against a single-request baseline (the
same model generating one request at a time in this process), all in one run. Prints JSON.

    python benchmarks/generate_serving.py [--requests 32] [--clients 1,16] [--max-new-tokens 64]
                                          [--policy-model builtin:tiny-gpt2] [--postgres-url URL]

Every request samples with its own seed (so that rows finish at different lengths, as real traffic does);
tokens are counted from `details.generated_tokens`. Prompts are OpenAssistant prompter messages.
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
from services.core.settings import get_settings  # noqa: E402
from services.inference.generation import GenerationRequest, GenerationResult, generate_batch  # noqa: E402
from services.inference.loading import default_policy_target, load_policy  # noqa: E402
from services.inference.runtime import torch_threads  # noqa: E402
from services.inference.schemas import GenerateParameters  # noqa: E402
from services.inference.validation import validate_parameters  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=32, help="requests per level (at least 2 per client)")
    parser.add_argument("--clients", default="1,16", help="concurrent clients per level")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--policy-model", default="builtin:tiny-gpt2")
    parser.add_argument(
        "--postgres-url", default=None, help="admin URL (default: local server, else embedded)"
    )
    args = parser.parse_args()
    levels = [int(level) for level in args.clients.split(",")]
    prompts = list(dict.fromkeys(prompt[:300] for prompt, _ in oasst_pairs(10_000)))
    bodies: list[dict[str, Any]] = [
        {
            "inputs": prompts[i % len(prompts)],
            "parameters": {
                "max_new_tokens": args.max_new_tokens,
                "do_sample": True,
                "seed": i,
                "details": True,
            },
        }
        for i in range(max(args.requests, 2 * max(levels)))
    ]

    with ServingStack(postgres_url=args.postgres_url) as stack:
        url = stack.start_inference({"RLHF_POLICY_MODEL": args.policy_model})
        settings = get_settings()
        payloads = [json.dumps(body).encode() for body in bodies]
        asyncio.run(run_clients(url, "/generate", payloads[:4], 2))  # warm-up
        results = []
        for clients in levels:
            batches = stack.metric("rlhf_inference_batch_size_count", "generate")
            units = stack.metric("rlhf_inference_batch_size_sum", "generate")
            run = asyncio.run(run_clients(url, "/generate", payloads, clients))
            batches = stack.metric("rlhf_inference_batch_size_count", "generate") - batches
            units = stack.metric("rlhf_inference_batch_size_sum", "generate") - units
            tokens = sum(body["details"]["generated_tokens"] for body in run["bodies"] if "details" in body)
            results.append(
                {
                    "clients": clients,
                    "requests": len(payloads),
                    "errors": sum(status != 200 for status in run["statuses"]),
                    "tokens": tokens,
                    "tokens_per_s": round(tokens / run["elapsed"], 1),
                    "p50_ms": round(percentile(run["latencies"], 0.5) * 1000, 1),
                    "p99_ms": round(percentile(run["latencies"], 0.99) * 1000, 1),
                    "mean_batch": round(units / batches, 1),
                }
            )
        stack.stop_inference()

        # Baseline: the same requests, one at a time, in this process (no HTTP, no batching).
        import torch

        threads = torch_threads(settings)
        torch.set_num_threads(threads)
        policy = load_policy(default_policy_target(args.policy_model))
        jobs = [
            GenerationRequest(
                body["inputs"],
                validate_parameters(
                    body["inputs"],
                    GenerateParameters(**body["parameters"]),
                    max_new_tokens_cap=settings.max_new_tokens_cap,
                    stream=False,
                ),
            )
            for body in bodies
        ]
        generate_batch(policy, jobs[:2])
        started = time.perf_counter()
        tokens = 0
        for job in jobs:
            (outcome,) = generate_batch(policy, [job])
            assert isinstance(outcome, GenerationResult), outcome
            tokens += len(outcome.tokens)
        baseline = tokens / (time.perf_counter() - started)

    report: dict[str, Any] = {
        "benchmark": "generate_serving",
        "model": args.policy_model,
        "requests": len(bodies),
        "max_new_tokens": args.max_new_tokens,
        "torch_threads": threads,
        "generate_max_batch_size": settings.generate_max_batch_size,
        "generate_max_wait_ms": settings.generate_max_wait_ms,
        "baseline_single_request_in_process": {"tokens": tokens, "tokens_per_s": round(baseline, 1)},
        "clients": results,
    }
    for level in results:
        level["vs_baseline"] = round(level["tokens_per_s"] / baseline, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
