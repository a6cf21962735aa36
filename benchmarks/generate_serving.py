"""Generation throughput: tokens/s for 1 and 16 concurrent clients on /generate (TGI's API) and on OpenAI's
/v1/chat/completions, with the mean batch size, against a single-request baseline (the same model
generating one request at a time in this process), all in one run. Prints JSON.

    python benchmarks/generate_serving.py [--requests 32] [--clients 1,16] [--max-new-tokens 64]
                                          [--policy builtin:tiny-gpt2] [--routes generate,openai]
                                          [--postgres-url URL]

`--policy` takes any base model name (a built-in name, a Hugging Face id in the offline cache, or a local
path). The OpenAI route is /v1/chat/completions (each prompt as one user message, through the model's chat
template) when the model has a chat template, else /v1/completions (the report says which).
Every request samples with its own seed (so that rows finish at different lengths, as real traffic does);
tokens are counted from `details.generated_tokens` and `usage.completion_tokens`. Prompts are
OpenAssistant prompter messages.
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


def measure_level(
    stack: ServingStack, url: str, path: str, payloads: list[bytes], clients: int
) -> tuple[dict[str, Any], list[Any]]:
    """One level: every payload sent by `clients` concurrent clients; the figures and the answers."""
    batches = stack.metric("rlhf_inference_batch_size_count", "generate")
    units = stack.metric("rlhf_inference_batch_size_sum", "generate")
    run = asyncio.run(run_clients(url, path, payloads, clients))
    batches = stack.metric("rlhf_inference_batch_size_count", "generate") - batches
    units = stack.metric("rlhf_inference_batch_size_sum", "generate") - units
    figures = {
        "clients": clients,
        "requests": len(payloads),
        "errors": sum(status != 200 for status in run["statuses"]),
        "elapsed_s": round(run["elapsed"], 2),
        "p50_ms": round(percentile(run["latencies"], 0.5) * 1000, 1),
        "p99_ms": round(percentile(run["latencies"], 0.99) * 1000, 1),
        "mean_batch": round(units / batches, 1) if batches else None,
    }
    return figures, run["bodies"]


def with_rate(figures: dict[str, Any], tokens: int) -> dict[str, Any]:
    return {**figures, "tokens": tokens, "tokens_per_s": round(tokens / figures["elapsed_s"], 1)}


def has_chat_template(policy: str) -> bool:
    from transformers import AutoTokenizer

    from services.modeling.base_models import resolve_base_model

    return bool(AutoTokenizer.from_pretrained(resolve_base_model(policy)).chat_template)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=32, help="requests per level (at least 2 per client)")
    parser.add_argument("--clients", default="1,16", help="concurrent clients per level")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument(
        "--policy", "--policy-model", default="builtin:tiny-gpt2", help="any base model name or local path"
    )
    parser.add_argument("--routes", default="generate,openai", help="which of generate, openai to measure")
    parser.add_argument(
        "--postgres-url", default=None, help="admin URL (default: local server, else embedded)"
    )
    args = parser.parse_args()
    levels = [int(level) for level in args.clients.split(",")]
    routes = set(args.routes.split(","))
    prompts = list(dict.fromkeys(prompt[:300] for prompt, _ in oasst_pairs(10_000)))
    count = max(args.requests, 2 * max(levels))
    chat = has_chat_template(args.policy)
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
        for i in range(count)
    ]
    openai_path = "/v1/chat/completions" if chat else "/v1/completions"
    openai_bodies: list[dict[str, Any]] = [
        {
            "model": "policy",
            **(
                {"messages": [{"role": "user", "content": prompts[i % len(prompts)]}]}
                if chat
                else {"prompt": prompts[i % len(prompts)]}
            ),
            "max_tokens": args.max_new_tokens,
            "seed": i,
        }
        for i in range(count)
    ]

    results: list[dict[str, Any]] = []
    openai_results: list[dict[str, Any]] = []
    with ServingStack(postgres_url=args.postgres_url) as stack:
        url = stack.start_inference({"RLHF_POLICY_MODEL": args.policy})
        settings = get_settings()
        payloads = [json.dumps(body).encode() for body in bodies]
        openai_payloads = [json.dumps(body).encode() for body in openai_bodies]
        asyncio.run(run_clients(url, "/generate", payloads[:4], 2))  # warm-up
        for clients in levels:
            if "generate" in routes:
                figures, answers = measure_level(stack, url, "/generate", payloads, clients)
                tokens = sum(body["details"]["generated_tokens"] for body in answers if "details" in body)
                results.append(with_rate(figures, tokens))
            if "openai" in routes:
                figures, answers = measure_level(stack, url, openai_path, openai_payloads, clients)
                tokens = sum(body["usage"]["completion_tokens"] for body in answers if "usage" in body)
                openai_results.append(with_rate(figures, tokens))
        stack.stop_inference()

        # Baseline: the same requests, one at a time, in this process (no HTTP, no batching).
        import torch

        threads = torch_threads(settings)
        torch.set_num_threads(threads)
        policy = load_policy(default_policy_target(args.policy))
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
        "model": args.policy,
        "requests": len(bodies),
        "max_new_tokens": args.max_new_tokens,
        "torch_threads": threads,
        "generate_max_batch_size": settings.generate_max_batch_size,
        "generate_max_wait_ms": settings.generate_max_wait_ms,
        "baseline_single_request_in_process": {"tokens": tokens, "tokens_per_s": round(baseline, 1)},
        "clients": results,
        "openai": {
            "route": openai_path,
            "note": None if chat else f"{args.policy} has no chat template: measured /v1/completions instead",
            "clients": openai_results,
        },
    }
    for level in results + openai_results:
        level["vs_baseline"] = round(level["tokens_per_s"] / baseline, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
