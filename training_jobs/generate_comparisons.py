"""generate_comparisons: new comparisons for people to judge, sampled from policy versions.

For each prompt of the dataset: two samples from one policy (policy_version_id, else base_model, else the
promoted policy, else RLHF_POLICY_MODEL), or one from it and one from other_policy_version_id. The
comparisons record which versions wrote each side, so votes on new-vs-old pairs give a win rate (stats).
They are stored at the end, in one transaction: a cancelled or failed job adds nothing. No model version.

Params: policy_version_id, other_policy_version_id, target_dataset_id (default: the job's dataset),
num_prompts (default: all), max_new_tokens (64), temperature (1.0), top_p (1.0), top_k (0: off), seed (0),
batch_size (16).
"""

from __future__ import annotations

from typing import Any

from services.core.db import session_scope
from services.domain import comparisons
from services.domain.comparisons import NewComparison
from training_jobs import checkpoints, data
from training_jobs.context import JobContext, JobInputError, JobResult
from training_jobs.trl_config import device

EXTRA_PARAMS: dict[str, Any] = {
    "other_policy_version_id": int,
    "target_dataset_id": int,
    "num_prompts": int,
    "max_new_tokens": int,
    "temperature": float,
    "top_p": float,
    "top_k": int,
    "seed": int,
    "batch_size": int,
}

MAX_NEW_TOKENS_LIMIT = 2048


def run(ctx: JobContext) -> JobResult:
    if ctx.dataset_id is None:
        raise JobInputError("a generate_comparisons job needs a dataset (its prompts)")
    if int(ctx.params.get("num_processes", 1)) > 1:
        raise JobInputError("generate_comparisons runs on one process: leave params.num_processes out")
    options = _options(ctx.params)
    prompts = data.dataset_prompts(
        ctx.dataset_id, max_comparison_id=ctx.data_snapshot.get("max_comparison_id")
    )
    if options["num_prompts"] is not None:
        prompts = prompts[: options["num_prompts"]]
    policy_a = checkpoints.policy_choice(ctx)
    two_policies = ctx.params.get("other_policy_version_id") is not None
    policy_b = checkpoints.policy_choice(ctx, key="other_policy_version_id") if two_policies else policy_a
    ctx.log(f"sampling for {len(prompts)} prompts: A from {policy_a.name}, B from {policy_b.name}")

    if two_policies:
        responses_a = _sample(
            ctx, policy_a.path, prompts, samples_per_prompt=1, options=options, span=(0.0, 0.45)
        )
        responses_b = _sample(
            ctx, policy_b.path, prompts, samples_per_prompt=1, options=options, span=(0.45, 0.9)
        )
    else:
        both = _sample(ctx, policy_a.path, prompts, samples_per_prompt=2, options=options, span=(0.0, 0.9))
        responses_a, responses_b = both[0::2], both[1::2]

    metadata = {"job_id": ctx.job_id, "policy_a": policy_a.name, "policy_b": policy_b.name}
    items = [
        NewComparison(
            prompt=prompt,
            response_a=a,
            response_b=b,
            metadata=metadata,
            source_a_version_id=policy_a.version_id,
            source_b_version_id=policy_b.version_id,
        )
        for prompt, a, b in zip(prompts, responses_a, responses_b, strict=True)
    ]
    ctx.raise_if_cancelled()
    target = int(ctx.params.get("target_dataset_id", ctx.dataset_id))
    with session_scope() as session:
        ids = comparisons.add_comparisons(session, target, items)
    ctx.log(f"stored {len(ids)} comparisons in dataset {target}")
    metrics = {
        "comparisons": len(ids),
        "target_dataset_id": target,
        "policy_a": policy_a.name,
        "policy_b": policy_b.name,
        "mean_response_chars": sum(len(r) for r in responses_a + responses_b) / max(1, 2 * len(ids)),
    }
    return JobResult(model_kind=None, metrics=metrics, base_model=policy_a.name)


def _options(params: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {
        "num_prompts": params.get("num_prompts"),
        "max_new_tokens": int(params.get("max_new_tokens", 64)),
        "temperature": float(params.get("temperature", 1.0)),
        "top_p": float(params.get("top_p", 1.0)),
        "top_k": int(params.get("top_k", 0)),
        "seed": int(params.get("seed", 0)),
        "batch_size": int(params.get("batch_size", 16)),
    }
    if options["num_prompts"] is not None and options["num_prompts"] < 1:
        raise JobInputError("params.num_prompts must be at least 1")
    if not 1 <= options["max_new_tokens"] <= MAX_NEW_TOKENS_LIMIT:
        raise JobInputError(f"params.max_new_tokens must be between 1 and {MAX_NEW_TOKENS_LIMIT}")
    if options["temperature"] <= 0:
        raise JobInputError("params.temperature must be positive (responses are sampled)")
    if not 0 < options["top_p"] <= 1:
        raise JobInputError("params.top_p must be in (0, 1]")
    if options["top_k"] < 0 or options["batch_size"] < 1:
        raise JobInputError("params.top_k must be >= 0 and params.batch_size >= 1")
    return options


def _sample(
    ctx: JobContext,
    path: str,
    prompts: list[str],
    *,
    samples_per_prompt: int,
    options: dict[str, Any],
    span: tuple[float, float],
) -> list[str]:
    """`samples_per_prompt` sampled responses per prompt, in prompt order (prompt 0's samples first)."""
    import torch

    tokenizer = checkpoints.load_tokenizer(path)
    tokenizer.padding_side = "left"  # generation continues each row at its right edge
    target = device()
    dtype = torch.bfloat16 if target.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    model = checkpoints.load_causal_lm(path, dtype=dtype).to(target).eval()
    window = getattr(model.config, "max_position_embeddings", None) or getattr(
        model.config, "n_positions", 1024
    )
    prompt_budget = max(1, window - options["max_new_tokens"])
    generator_seed = options["seed"]
    responses: list[str] = []
    batch_size = options["batch_size"]
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        # Long prompts keep their end: it is what the response continues.
        tokenizer.truncation_side = "left"
        encoded = tokenizer(
            batch, return_tensors="pt", padding=True, truncation=True, max_length=prompt_budget
        )
        torch.manual_seed(generator_seed + start)
        with torch.inference_mode():
            output = model.generate(
                **encoded.to(target),
                do_sample=True,
                temperature=options["temperature"],
                top_p=options["top_p"],
                top_k=options["top_k"],
                max_new_tokens=options["max_new_tokens"],
                num_return_sequences=samples_per_prompt,
                pad_token_id=tokenizer.pad_token_id,
            )
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        responses.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
        done = min(start + batch_size, len(prompts)) / len(prompts)
        ctx.progress(span[0] + (span[1] - span[0]) * done, prompts_done=min(start + batch_size, len(prompts)))
        ctx.raise_if_cancelled()
    return responses
