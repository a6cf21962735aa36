"""What the rloo and grpo jobs share: TRL's RLOOTrainer and GRPOTrainer take the same inputs (a policy, reward
callables, prompts, a config with `num_generations` and `max_completion_length`), sample a group of
completions per prompt and learn from each one's reward relative to its group's.

The reward is the job's reward (a reward-model version, or a named reward: evaluation.online_rl_sources) as a
plain callable over text (reward_adapter.reward_function), so a reward model with its own tokenizer works and
its inputs follow encode_reward_input. It scores each completion against the full prompt as text (the
`reward_prompt` column): a prompt too long for the policy's window is cut from the left for the policy only.
A policy with a chat template gets conversational prompts (training_jobs/chat_format.py): the trainers apply
the template themselves.

Held-out prompts, evaluation and the pinned metrics (reward_before, reward_before_std, reward_after, kl)
are those of the ppo job (training_jobs.evaluation).
"""

from __future__ import annotations

from typing import Any

from services.domain.job_params.kinds import OnlineRLParams
from services.modeling.chat import Prompt, prompt_text
from services.modeling.device import device
from training_jobs import checkpoints, evaluation
from training_jobs.chat_format import describe, encode_prompt, trainer_prompt
from training_jobs.context import JobContext, JobInputError, JobResult, job_trainer
from training_jobs.evaluation import prompt_budget
from training_jobs.reward_adapter import load_scorer, reward_function
from training_jobs.trl_config import apply_trainable, build_config, keep_trainable_fp32, peft_config


def run_group_trainer(
    ctx: JobContext[Any], config_cls: type, trainer_cls: type, *, steps_metric: str
) -> JobResult:
    """Train with `trainer_cls` (RLOOTrainer or GRPOTrainer) and its config; `steps_metric` names the metric
    that counts its optimizer steps (rloo_steps, grpo_steps)."""
    from datasets import Dataset
    from transformers import set_seed

    if ctx.dataset_id is None:
        raise JobInputError(f"a {ctx.kind} job needs a dataset of prompts")
    params: OnlineRLParams = ctx.params
    sources = evaluation.online_rl_sources(ctx)
    start, reward = sources.policy, sources.reward
    train_prompts, eval_prompts = sources.train_prompts, sources.eval_prompts
    config: Any = build_config(config_cls, ctx)
    if config.max_completion_length is None:
        raise JobInputError("params.max_completion_length must be a number of tokens")
    completion_length = int(config.max_completion_length)

    set_seed(config.seed)
    tokenizer = checkpoints.load_tokenizer(start.path)
    lora = peft_config(params.lora, kind=ctx.kind)
    policy = checkpoints.load_causal_lm(start.path, full_training=lora is None)
    scorer = load_scorer(reward, prompts=train_prompts + eval_prompts, references=sources.references)
    scorer.module.to(device())
    apply_trainable(policy, params.trainable, kind=ctx.kind)
    budget = prompt_budget(tokenizer, policy, completion_length)
    ctx.log(describe(tokenizer, train_prompts[0]))
    train_rows = [
        {"prompt": fit_prompt(tokenizer, prompt, budget=budget), "reward_prompt": prompt_text(prompt)}
        for prompt in train_prompts
    ]
    eval_ids = [encode_prompt(tokenizer, prompt, budget=budget) for prompt in eval_prompts]

    sampling = evaluation.Sampling(
        max_new_tokens=completion_length,
        temperature=config.temperature,
        stop_token_id=tokenizer.eos_token_id,  # the trainers' generation ends at eos
        samples_per_prompt=params.eval_samples_per_prompt,
        seed=config.seed,
    )
    before = evaluation.evaluate_start(ctx, policy, tokenizer, eval_prompts, eval_ids, scorer, sampling)

    trainer = job_trainer(
        trainer_cls(
            model=policy,
            reward_funcs=reward_function(scorer),
            args=config,
            train_dataset=Dataset.from_list(train_rows),
            processing_class=tokenizer,
            callbacks=ctx.callbacks,
            peft_config=lora,
        )
    )
    keep_trainable_fp32(trainer.model)
    ctx.trainer_span = (0.05, 0.9)
    trainer.train()
    ctx.raise_if_cancelled()

    trained = trainer.accelerator.unwrap_model(trainer.model)
    reference = trainer.ref_model
    if reference is None and lora is None:  # beta = 0: TRL kept no reference, but the KL is still reported
        reference = checkpoints.load_causal_lm(start.path).to(device())
    ctx.log("evaluating the trained policy on the held-out prompts")
    after = evaluation.evaluate(
        trained, tokenizer, eval_prompts, eval_ids, scorer, sampling, reference=reference
    )
    completions_per_batch = config.per_device_train_batch_size * config.gradient_accumulation_steps
    return evaluation.finish_online_rl(
        ctx,
        sources,
        before,
        after,
        trained,
        tokenizer,
        prompts_per_batch=max(1, completions_per_batch // (config.num_generations or 1)),
        **{steps_metric: trainer.state.global_step},
    )


def fit_prompt(tokenizer: Any, prompt: Prompt, *, budget: int) -> Prompt:
    """The prompt as the trainers take it (training_jobs/chat_format.py), fitting `budget` tokens: a text
    keeps its end; a conversation too long for the window loses the start of its last message."""
    prompt = trainer_prompt(tokenizer, prompt)
    if isinstance(prompt, str):
        return fit_prompt_text(tokenizer, prompt, budget=budget)
    overflow = len(encode_prompt(tokenizer, prompt, budget=10**9)) - budget
    if overflow <= 0:
        return prompt
    last = prompt[-1]["content"]
    kept = len(tokenizer(last, add_special_tokens=False)["input_ids"]) - overflow
    if kept < 1:
        raise JobInputError(f"a conversation's earlier turns alone exceed the {budget}-token prompt budget")
    return [*prompt[:-1], {**prompt[-1], "content": fit_prompt_text(tokenizer, last, budget=kept)}]


def fit_prompt_text(tokenizer: Any, prompt: str, *, budget: int) -> str:
    """The prompt, or its end that fits `budget` tokens (the trainers tokenize prompts themselves, untruncated)."""
    ids = tokenizer(prompt)["input_ids"]
    text, keep = prompt, budget
    # Decoding the last `keep` ids and encoding again may split a cut word into more tokens: keep fewer.
    while len(tokenizer(text)["input_ids"]) > budget:
        text = tokenizer.decode(ids[len(ids) - keep :], skip_special_tokens=True)
        keep -= 1
    return text
