"""rejection_sampling: Llama 2's rejection-sampling fine-tuning (Touvron et al. 2023, §3.2.3): sample
`num_samples` responses to each training prompt from the policy, score them with the reward, keep the best
of each prompt, and fine-tune the policy on those (the sft job's training, training_jobs/sft.fine_tune).

The policy, the reward (a reward-model version, a classifier, or a named reward) and the prompts (a prompt
dataset's, or a preference dataset's comparisons', a share held out) are the online RL jobs'
(training_jobs.evaluation.online_rl_sources). The reward distribution is recorded before and after:

- before, on the training prompts: every sample's reward (`samples_reward_mean`, `samples_reward_std`) and the
  best of each prompt's (`best_reward_mean`, `best_reward_std`): what the fine-tuning is taught;
- on the held-out prompts, the starting policy's samples and the new policy's (`reward_before`,
  `reward_after`, the gain in σ with its 95 % interval, the KL of the new policy to the starting one), as the
  ppo, rloo and grpo jobs report them.

Params: RejectionSamplingParams (services/domain/job_params/kinds.py) and SFTConfig's fields.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any

from services.domain.job_params import RejectionSamplingParams
from services.modeling.chat import Prompt, prompt_text
from services.modeling.device import device
from training_jobs import checkpoints, evaluation
from training_jobs.chat_format import encode_prompt
from training_jobs.context import JobContext, JobInputError, JobResult
from training_jobs.evaluation import Evaluation, prompt_budget
from training_jobs.reward_adapter import load_scorer
from training_jobs.sft import fine_tune
from training_jobs.trl_config import batch_size


def run(ctx: JobContext[RejectionSamplingParams]) -> JobResult:
    from transformers import set_seed

    if ctx.dataset_id is None:
        raise JobInputError("a rejection_sampling job needs a dataset of prompts")
    params = ctx.params
    sources = evaluation.online_rl_sources(ctx)
    start, train_prompts, eval_prompts = sources.policy, sources.train_prompts, sources.eval_prompts
    set_seed(params.sampling_seed)
    tokenizer = checkpoints.load_tokenizer(start.path)
    policy = checkpoints.load_causal_lm(start.path).requires_grad_(False)  # samples, then the KL's reference
    scorer = load_scorer(sources.reward, prompts=train_prompts + eval_prompts, references=sources.references)
    scorer.module.to(device())
    budget = prompt_budget(tokenizer, policy, params.max_new_tokens)
    sampling = evaluation.Sampling(
        max_new_tokens=params.max_new_tokens,
        temperature=params.temperature,
        stop_token_id=tokenizer.eos_token_id,
        samples_per_prompt=params.eval_samples_per_prompt,
        seed=params.sampling_seed,
    )
    eval_ids = [encode_prompt(tokenizer, prompt, budget=budget) for prompt in eval_prompts]
    before = evaluation.evaluate_start(ctx, policy, tokenizer, eval_prompts, eval_ids, scorer, sampling)

    ctx.log(f"sampling {params.num_samples} responses to each of {len(train_prompts)} training prompts")
    samples = evaluation.evaluate(
        policy,
        tokenizer,
        train_prompts,
        [encode_prompt(tokenizer, prompt, budget=budget) for prompt in train_prompts],
        scorer,
        dataclasses.replace(sampling, samples_per_prompt=params.num_samples),
        with_kl=False,
    )
    best = best_of_each_prompt(train_prompts, samples)
    distribution = {
        "samples_per_prompt": params.num_samples,
        "samples_reward_mean": samples.reward_mean,
        "samples_reward_std": samples.reward_std,
        "best_reward_mean": statistics.fmean(row["reward"] for row in best),
        "best_reward_std": statistics.pstdev(row["reward"] for row in best),
    }
    ctx.log(
        f"rewards of the samples: mean {samples.reward_mean:+.3f} (std {samples.reward_std:.3f}); of the best "
        f"of each prompt: mean {distribution['best_reward_mean']:+.3f}"
    )
    ctx.progress(0.3, **distribution)
    ctx.raise_if_cancelled()

    tuned = fine_tune(ctx, start, best, [], span=(0.3, 0.9))
    trained = tuned.trainer.model
    ctx.log("evaluating the fine-tuned policy on the held-out prompts")
    after = evaluation.evaluate(
        trained, tokenizer, eval_prompts, eval_ids, scorer, sampling, reference=policy
    )
    return evaluation.finish_online_rl(
        ctx,
        sources,
        before,
        after,
        trained,
        tokenizer,
        prompts_per_batch=batch_size(tuned.trainer.args),
        **distribution,
        loss=tuned.metrics["loss"],
    )


def best_of_each_prompt(prompts: list[Prompt], samples: Evaluation) -> list[dict[str, Any]]:
    """{"prompt", "completion", "reward"} per prompt: its sample with the highest reward (the first of equals)."""
    by_text = {prompt_text(prompt): prompt for prompt in prompts}
    best: dict[str, tuple[str, float]] = {}
    for text, response, reward in zip(samples.prompts, samples.responses, samples.rewards, strict=True):
        if text not in best or reward > best[text][1]:
            best[text] = (response, reward)
    return [
        {"prompt": by_text[text], "completion": response, "reward": reward}
        for text, (response, reward) in best.items()
    ]
