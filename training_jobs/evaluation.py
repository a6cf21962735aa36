"""Held-out evaluation of a policy under a reward model, and the steps around it that the ppo and rloo jobs share.

For each held-out prompt, `samples_per_prompt` responses are sampled at the trainer's temperature (top-k and
top-p off, as the trainers sample), up to `max_new_tokens`, ending at the stop token. Two numbers come out:

- reward: the reward of each (prompt, response), through the job's Scorer (a reward version, or a named reward; each model's
  own tokenizer and encode_reward_input); the job reports their mean, and their std before training.
- KL to the reference, per response: Σ_t log π(y_t | x, y_<t) − log π_ref(y_t | x, y_<t) over the response's
  tokens (its stop token included), both distributions at the sampling temperature, averaged over the
  samples. This is a Monte-Carlo estimate of KL(π‖π_ref) in nats per response, the quantity PPO's penalty
  and TRL's `objective/kl` measure (the k1 estimator; see http://joschu.net/blog/kl-approx.html).

The same seed is used before and after training, so the two evaluations draw the same random numbers.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

from services.core.enums import ModelKind
from services.domain.intervals import bootstrap_mean
from services.domain.job_params.kinds import OnlineRLParams
from services.modeling.chat import Prompt, prompt_text
from services.modeling.combined_reward import RewardSpec
from services.modeling.device import device
from services.modeling.windows import model_window, window_size
from training_jobs import checkpoints, data, metric_warnings
from training_jobs.checkpoints import ModelSource
from training_jobs.context import JobContext, JobInputError, JobResult
from training_jobs.reward_adapter import Scorer

GENERATION_BATCH_SIZE = 32
RLParams = TypeVar("RLParams", bound=OnlineRLParams)


@dataclass
class Evaluation:
    prompts: list[str]  # as the reward model read them (services/modeling/chat.prompt_text)
    responses: list[str]
    rewards: list[float]
    kls: list[float] | None  # None when no reference was given (before training the policy is the reference)

    @property
    def reward_mean(self) -> float:
        return statistics.fmean(self.rewards)

    @property
    def reward_std(self) -> float:
        return statistics.pstdev(self.rewards)

    @property
    def kl_mean(self) -> float | None:
        return statistics.fmean(self.kls) if self.kls is not None else None


@dataclass(frozen=True)
class Sampling:
    """How responses are drawn: the trainer's own settings."""

    max_new_tokens: int
    temperature: float
    stop_token_id: int | None
    samples_per_prompt: int
    seed: int = 0


def evaluate(
    policy: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    query_ids: list[list[int]],
    scorer: Scorer,
    sampling: Sampling,
    *,
    reference: Any = None,
    with_kl: bool = True,
) -> Evaluation:
    """Sample, score and (with_kl) measure KL to `reference`; reference=None with a peft policy means the
    policy with its adapter disabled."""
    rows = [
        (prompt_text(prompt), ids) for prompt, ids in zip(prompts, query_ids, strict=True)
    ] * sampling.samples_per_prompt
    rows.sort(key=lambda row: len(row[1]))  # similar lengths together: less padding
    device = next(policy.parameters()).device
    was_training = policy.training
    policy.eval()
    texts: list[str] = []
    kls: list[float] = []
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(sampling.seed)
            for start in range(0, len(rows), GENERATION_BATCH_SIZE):
                batch = [ids for _, ids in rows[start : start + GENERATION_BATCH_SIZE]]
                query, query_mask = _left_pad(batch, tokenizer.pad_token_id, device)
                responses, response_mask = _sample(policy, tokenizer, query, query_mask, sampling)
                texts += [
                    tokenizer.decode(response[mask.bool()].tolist(), skip_special_tokens=True)
                    for response, mask in zip(responses, response_mask, strict=True)
                ]
                if with_kl:
                    logprobs = _response_logprobs(policy, query, query_mask, responses, sampling.temperature)
                    with _reference_context(policy, reference) as ref:
                        ref_logprobs = _response_logprobs(
                            ref, query, query_mask, responses, sampling.temperature
                        )
                    kls += ((logprobs - ref_logprobs) * response_mask).sum(dim=1).tolist()
    finally:
        policy.train(was_training)
    row_prompts = [prompt for prompt, _ in rows]
    rewards = scorer(row_prompts, texts)
    return Evaluation(prompts=row_prompts, responses=texts, rewards=rewards, kls=kls if with_kl else None)


def _left_pad(batch: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, tokens in enumerate(batch):
        ids[row, width - len(tokens) :] = torch.tensor(tokens)
        mask[row, width - len(tokens) :] = 1
    return ids.to(device), mask.to(device)


@torch.no_grad()
def _sample(
    policy: Any, tokenizer: Any, query: torch.Tensor, query_mask: torch.Tensor, sampling: Sampling
) -> tuple[torch.Tensor, torch.Tensor]:
    """Responses (batch, max_new_tokens) and their masks: up to and including the first stop token."""
    from transformers import GenerationConfig

    config = GenerationConfig(
        max_new_tokens=sampling.max_new_tokens,
        min_new_tokens=sampling.max_new_tokens if sampling.stop_token_id is None else 0,
        do_sample=True,
        temperature=sampling.temperature,
        top_k=0,
        top_p=1.0,
        eos_token_id=sampling.stop_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    output = policy.generate(input_ids=query, attention_mask=query_mask, generation_config=config)
    responses = output[:, query.shape[1] :]
    if responses.shape[1] < sampling.max_new_tokens:  # every row stopped early
        fill = responses.new_full((responses.shape[0], sampling.max_new_tokens - responses.shape[1]), 0)
        responses = torch.cat([responses, fill], dim=1)
    positions = torch.arange(responses.shape[1], device=responses.device)
    if sampling.stop_token_id is None:
        return responses, torch.ones_like(responses)
    is_stop = responses == sampling.stop_token_id
    first_stop = torch.where(is_stop.any(dim=1), is_stop.int().argmax(dim=1), responses.shape[1])
    return responses, (positions[None, :] <= first_stop[:, None]).long()


@torch.no_grad()
def _response_logprobs(
    model: Any, query: torch.Tensor, query_mask: torch.Tensor, responses: torch.Tensor, temperature: float
) -> torch.Tensor:
    """log π(y_t | x, y_<t) of each response token, the distribution at `temperature`."""
    ids = torch.cat([query, responses], dim=1)
    mask = torch.cat([query_mask, torch.ones_like(responses)], dim=1)
    position_ids = (mask.cumsum(dim=1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids).logits
    logits = logits[:, query.shape[1] - 1 : -1].float() / temperature
    return torch.log_softmax(logits, dim=-1).gather(-1, responses.unsqueeze(-1)).squeeze(-1)


def _reference_context(policy: Any, reference: Any) -> Any:
    if reference is not None:
        return nullcontext(reference)
    if not hasattr(policy, "disable_adapter"):
        raise ValueError("no reference model given and the policy has no adapter to disable")
    return _AdapterDisabled(policy)


class _AdapterDisabled:
    """`with` → the peft policy itself, its adapter off: the starting weights, which LoRA leaves untouched."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.inner = policy.disable_adapter()

    def __enter__(self) -> Any:
        self.inner.__enter__()
        return self.policy

    def __exit__(self, *exc: object) -> None:
        self.inner.__exit__(*exc)


@dataclass(frozen=True)
class OnlineRLSources:
    """What a ppo or rloo job starts from: the policy, the reward model, and the prompts (train, held out)."""

    policy: ModelSource
    reward: ModelSource | RewardSpec  # a reward version, or a named reward's version
    train_prompts: list[Prompt]
    eval_prompts: list[Prompt]
    # Each prompt's reference, by the prompt as the reward reads it (prompt_text): for ROUGE and BLEU rewards.
    references: dict[str, str] = field(default_factory=dict)


def online_rl_sources(ctx: JobContext[RLParams]) -> OnlineRLSources:
    params = ctx.params
    sources = OnlineRLSources(
        checkpoints.policy_source(ctx, params.policy_version_id),
        checkpoints.reward_source(params.reward, params.reward_model_version_id),
        *held_out_split(ctx, eval_fraction=params.eval_fraction),
        references=prompt_references(ctx),
    )
    ctx.log(
        f"{len(sources.train_prompts)} training prompts, {len(sources.eval_prompts)} held out; "
        f"policy {sources.policy.name}, reward {reward_name(sources.reward)}"
    )
    return sources


def reward_name(reward: ModelSource | RewardSpec) -> str:
    return reward.label if isinstance(reward, RewardSpec) else reward.name


def evaluate_start(
    ctx: JobContext[Any],
    policy: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    query_ids: list[list[int]],
    scorer: Scorer,
    sampling: Sampling,
) -> Evaluation:
    """The starting policy on the held-out prompts (the baseline of reward_before), on the job's device."""
    policy.to(device())
    ctx.log(f"evaluating the starting policy on {len(prompts)} held-out prompts")
    before = evaluate(policy, tokenizer, prompts, query_ids, scorer, sampling, with_kl=False)
    ctx.progress(0.05, reward_before=before.reward_mean, reward_before_std=before.reward_std)
    ctx.raise_if_cancelled()
    return before


def finish_online_rl(
    ctx: JobContext[Any],
    sources: OnlineRLSources,
    before: Evaluation,
    after: Evaluation,
    trained: Any,
    tokenizer: Any,
    *,
    prompts_per_batch: int,
    **extra_metrics: Any,
) -> JobResult:
    """The pinned metrics, a few samples in the log, and the trained policy saved as the new version."""
    metrics = outcome_metrics(
        before, after, train_prompts=len(sources.train_prompts), eval_prompts=len(sources.eval_prompts)
    )
    metrics["warnings"] += metric_warnings.small_data(
        len(sources.train_prompts), prompts_per_batch, "prompts"
    )
    metrics.update(extra_metrics)
    log_samples(ctx, before, after)
    ctx.progress(0.95, **metrics)
    checkpoints.save_model(trained, tokenizer, ctx.output_dir)
    return JobResult(model_kind=ModelKind.POLICY, metrics=metrics, base_model=sources.policy.name)


def held_out_split(ctx: JobContext[Any], *, eval_fraction: float) -> tuple[list[Prompt], list[Prompt]]:
    """The dataset's prompts (up to the job's snapshot), split deterministically into train and held out."""
    assert ctx.dataset_id is not None
    prompts: list[Prompt] = data.dataset_prompts(
        ctx.dataset_id,
        max_comparison_id=ctx.data_snapshot.get("max_comparison_id"),
        max_example_id=ctx.data_snapshot.get("max_example_id"),
    )
    train, held_out = data.split_train_eval(prompts, eval_fraction=eval_fraction)
    if not train or not held_out:
        raise JobInputError(
            f"dataset {ctx.dataset_id} has {len(prompts)} distinct prompt(s); at least two are needed "
            "(one to train on, one held out) with eval_fraction between 0 and 1"
        )
    return train, held_out


def prompt_references(ctx: JobContext[Any]) -> dict[str, str]:
    """The references of the dataset's prompts (up to the job's snapshot), by prompt as the reward reads it."""
    assert ctx.dataset_id is not None
    rows = data.dataset_prompt_rows(
        ctx.dataset_id,
        max_comparison_id=ctx.data_snapshot.get("max_comparison_id"),
        max_example_id=ctx.data_snapshot.get("max_example_id"),
    )
    return {prompt_text(prompt): reference for prompt, reference in rows if reference is not None}


def prompt_budget(tokenizer: Any, policy: Any, response_length: int) -> int:
    """How many prompt tokens fit beside a response in the policy's window."""
    window = window_size(tokenizer, model_window(policy.config))
    budget = window - response_length
    if budget < 1:
        raise JobInputError(
            f"response_length {response_length} leaves no room for a prompt in a {window}-token window"
        )
    return budget


def outcome_metrics(
    before: Evaluation, after: Evaluation, *, train_prompts: int, eval_prompts: int
) -> dict[str, Any]:
    """The pinned keys (reward_before, reward_before_std, reward_after, kl), the gain with its 95 % interval
    and a warning when that interval does not lie above 0."""
    gain = after.reward_mean - before.reward_mean
    gain_ci95 = paired_gain_interval(before, after)
    scale = before.reward_std if before.reward_std > 0 else None
    gain_in_std = gain / scale if scale else None
    gain_in_std_ci95 = [bound / scale for bound in gain_ci95] if scale and gain_ci95 else None
    return {
        "reward_before": before.reward_mean,
        "reward_before_std": before.reward_std,
        "reward_after": after.reward_mean,
        "reward_after_std": after.reward_std,
        "reward_gain": gain,
        "reward_gain_ci95": gain_ci95,
        "reward_gain_in_std": gain_in_std,
        "reward_gain_in_std_ci95": gain_in_std_ci95,
        "kl": after.kl_mean,
        "train_prompts": train_prompts,
        "eval_prompts": eval_prompts,
        "eval_samples": len(after.rewards),
        "warnings": metric_warnings.no_gain(gain_in_std, gain_in_std_ci95),
    }


def paired_gain_interval(before: Evaluation, after: Evaluation) -> list[float] | None:
    """95 % interval of the mean reward gain, by held-out prompt: each prompt's mean reward after minus before
    (its samples are not independent of each other, the prompts are), bootstrapped over prompts."""
    by_prompt: dict[str, list[float]] = {}
    for label, evaluation in ((0, before), (1, after)):
        sums: dict[str, list[float]] = {}
        for prompt, reward in zip(evaluation.prompts, evaluation.rewards, strict=True):
            sums.setdefault(prompt, []).append(reward)
        for prompt, rewards in sums.items():
            by_prompt.setdefault(prompt, [0.0, 0.0])[label] = statistics.fmean(rewards)
    return bootstrap_mean([after_mean - before_mean for before_mean, after_mean in by_prompt.values()])


def log_samples(ctx: JobContext[Any], before: Evaluation, after: Evaluation, count: int = 3) -> None:
    for label, result in (("before", before), ("after", after)):
        for prompt, response, reward in list(
            zip(result.prompts, result.responses, result.rewards, strict=True)
        )[:count]:
            ctx.log(f"{label}: reward {reward:+.3f} | {prompt[-60:]!r} → {response[:120]!r}")
