"""generate_comparisons: new comparisons for people to judge, sampled from policy versions.

For each prompt of the dataset: two samples from one policy (policy_version_id, else base_model, else the
promoted policy, else RLHF_POLICY_MODEL), or one from it and one from other_policy_version_id, each prompt
through the policy's chat template when it has one (training_jobs/chat_format.py). The
comparisons record which versions wrote each side, so votes on new-vs-old pairs give a win rate (stats).
They are stored at the end, in one transaction: a cancelled or failed job adds nothing. No model version.

Params: GenerateComparisonsParams (services/domain/job_params/kinds.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.core.db import session_scope
from services.domain import comparisons, scores
from services.domain.comparisons import NewComparison
from services.domain.job_params import GenerateComparisonsParams
from services.modeling.chat import Prompt
from services.modeling.device import device
from services.modeling.windows import model_window
from services.queue.broker import enqueue_job
from training_jobs import checkpoints, data
from training_jobs.chat_format import describe, encode_prompt
from training_jobs.context import JobContext, JobInputError, JobResult

# For a policy whose config declares no window.
DEFAULT_WINDOW = 1024


def run(ctx: JobContext[GenerateComparisonsParams]) -> JobResult:
    if ctx.dataset_id is None:
        raise JobInputError("a generate_comparisons job needs a dataset (its prompts)")
    params = ctx.params
    prompts = data.dataset_prompts(
        ctx.dataset_id,
        max_comparison_id=ctx.data_snapshot.get("max_comparison_id"),
        max_example_id=ctx.data_snapshot.get("max_example_id"),
    )
    if params.num_prompts is not None:
        prompts = prompts[: params.num_prompts]
    policy_a = checkpoints.policy_source(ctx, params.policy_version_id)
    two_policies = params.other_policy_version_id is not None
    policy_b = checkpoints.policy_source(ctx, params.other_policy_version_id) if two_policies else policy_a
    ctx.log(f"sampling for {len(prompts)} prompts: A from {policy_a.name}, B from {policy_b.name}")

    if two_policies:
        responses_a = _sample(ctx, policy_a.path, prompts, samples_per_prompt=1, span=(0.0, 0.45))
        responses_b = _sample(ctx, policy_b.path, prompts, samples_per_prompt=1, span=(0.45, 0.9))
    else:
        both = _sample(ctx, policy_a.path, prompts, samples_per_prompt=2, span=(0.0, 0.9))
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
    target = params.target_dataset_id or ctx.dataset_id
    with session_scope() as session:
        ids = comparisons.add_comparisons(session, target, items)
        scores.request_scoring(session, target, enqueue=enqueue_job)
    ctx.log(f"stored {len(ids)} comparisons in dataset {target}")
    metrics = {
        "comparisons": len(ids),
        "target_dataset_id": target,
        "policy_a": policy_a.name,
        "policy_b": policy_b.name,
        "mean_response_chars": sum(len(r) for r in responses_a + responses_b) / max(1, 2 * len(ids)),
    }
    return JobResult(model_kind=None, metrics=metrics, base_model=policy_a.name)


def _sample(
    ctx: JobContext[GenerateComparisonsParams],
    path: str,
    prompts: Sequence[Prompt],
    *,
    samples_per_prompt: int,
    span: tuple[float, float],
) -> list[str]:
    """`samples_per_prompt` sampled responses per prompt, in prompt order (prompt 0's samples first)."""
    import torch

    tokenizer = checkpoints.load_tokenizer(path)
    tokenizer.padding_side = "left"  # generation continues each row at its right edge
    target = device()
    model = checkpoints.load_causal_lm(path).to(target).eval()
    window = model_window(model.config) or DEFAULT_WINDOW
    params = ctx.params
    prompt_budget = max(1, window - params.max_new_tokens)
    ctx.log(describe(tokenizer, prompts[0]))
    responses: list[str] = []
    batch_size = params.batch_size
    for start in range(0, len(prompts), batch_size):
        # Long prompts keep their end: it is what the response continues.
        batch = [
            encode_prompt(tokenizer, prompt, budget=prompt_budget)
            for prompt in prompts[start : start + batch_size]
        ]
        encoded = tokenizer.pad({"input_ids": batch}, return_tensors="pt")
        torch.manual_seed(params.seed + start)
        with torch.inference_mode():
            output = model.generate(
                **encoded.to(target),
                do_sample=True,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=params.top_k,
                max_new_tokens=params.max_new_tokens,
                num_return_sequences=samples_per_prompt,
                pad_token_id=tokenizer.pad_token_id,
            )
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        responses.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
        done = min(start + batch_size, len(prompts)) / len(prompts)
        ctx.progress(span[0] + (span[1] - span[0]) * done, prompts_done=min(start + batch_size, len(prompts)))
        ctx.raise_if_cancelled()
    return responses
