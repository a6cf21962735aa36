"""ppo: a policy tuned against a reward model with TRL 1.12's PPOTrainer (Ziegler et al. 2019; InstructGPT).

Four networks: the policy (params.policy_version_id, else base_model, else the promoted policy), a frozen
reference copy of it (with LoRA: the policy with its adapter disabled), the reward model (a reward version:
params.reward_model_version_id, else the promoted one) behind `PolicyTokenRewardModel`, so that any reward
version works whatever its tokenizer, and a value model (see reward_adapter.value_model for how it starts).
The per-token reward is the KL penalty −kl_coef·(log π − log π_ref), plus the reward model's score at the
last token.

Prompts are the dataset's distinct prompts, through the policy's chat template when it has one
(training_jobs/chat_format.py), left-padded into batches (TRL pads with the tokenizer's padding side and
generates from the right edge); a deterministic share (eval_fraction) is held out. Before and
after training, responses to the held-out prompts are sampled and scored (training_jobs.evaluation): the
pinned metrics reward_before, reward_before_std, reward_after and kl come from there. TRL logs per step
(objective/scores, objective/kl, objective/entropy, policy/clipfrac_avg, ...) reach the job through
ctx.callbacks.

Params: PpoParams (services/domain/job_params/kinds.py, with the kind's defaults) and PPOConfig's fields.

The kind's defaults suit policies of 100M parameters and more (TRL's own learning rate is 3e-6). The built-in
tiny-gpt2 (0.7M) needs a larger step: its per-base-model defaults (services/domain/job_params/presets.py,
measured with benchmarks/ppo_gain.py) are learning_rate 1e-4, kl_coef 0.1 and total_episodes 480 (30 steps of
16); the end-to-end test uses 3e-4, kl_coef 0.01, 320 episodes.
"""

from __future__ import annotations

from services.domain.job_params import PpoParams
from services.modeling.chat import prompt_text
from services.modeling.device import device
from training_jobs import checkpoints, evaluation
from training_jobs.chat_format import describe, encode_prompt
from training_jobs.context import JobContext, JobInputError, JobResult, job_trainer
from training_jobs.evaluation import prompt_budget
from training_jobs.reward_adapter import PolicyTokenRewardModel, load_scorer, value_model
from training_jobs.trl_config import apply_trainable, build_config, keep_trainable_fp32, peft_config


def run(ctx: JobContext[PpoParams]) -> JobResult:
    from datasets import Dataset
    from transformers import set_seed
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    if ctx.dataset_id is None:
        raise JobInputError("a ppo job needs a dataset of prompts")
    params = ctx.params
    sources = evaluation.online_rl_sources(ctx)
    start, reward = sources.policy, sources.reward
    train_prompts, eval_prompts = sources.train_prompts, sources.eval_prompts
    config = build_config(PPOConfig, ctx)

    set_seed(config.seed)  # the value model's fresh head, the held-out samples, PPO's rollouts
    tokenizer = checkpoints.load_tokenizer(start.path)
    # TRL's collator pads queries on the tokenizer's side; generation continues at the right edge.
    tokenizer.padding_side = "left"
    lora = peft_config(params.lora, kind=ctx.kind)
    policy = checkpoints.load_causal_lm(start.path, full_training=lora is None)
    reference = None if lora is not None else checkpoints.load_causal_lm(start.path).requires_grad_(False)
    scorer = load_scorer(reward, prompts=train_prompts + eval_prompts, references=sources.references)
    scorer.module.to(device())
    critic = value_model(start.path, tokenizer, scorer)
    apply_trainable(policy, params.trainable, kind=ctx.kind)

    budget = prompt_budget(tokenizer, policy, config.response_length)
    ctx.log(describe(tokenizer, train_prompts[0]))
    train_ids = [encode_prompt(tokenizer, prompt, budget=budget) for prompt in train_prompts]
    eval_ids = [encode_prompt(tokenizer, prompt, budget=budget) for prompt in eval_prompts]
    # The reward model reads each prompt as plain text, whatever template the policy saw it through.
    known = {
        tuple(ids): prompt_text(prompt)
        for ids, prompt in zip(train_ids + eval_ids, train_prompts + eval_prompts, strict=True)
    }
    # TRL's PPO loader drops the last partial batch and repeats forever: with fewer prompts than one batch it
    # yields nothing and the trainer spins without end, whatever total_episodes says.
    batch = config.per_device_train_batch_size * config.gradient_accumulation_steps
    if len(train_ids) < batch:
        raise JobInputError(
            f"{len(train_ids)} training prompts fill no batch of {batch} "
            "(per_device_train_batch_size × gradient_accumulation_steps): add prompts or lower "
            "per_device_train_batch_size"
        )

    sampling = evaluation.Sampling(
        max_new_tokens=config.response_length,
        temperature=config.temperature,
        stop_token_id=tokenizer.eos_token_id if config.stop_token == "eos" else config.stop_token_id,
        samples_per_prompt=params.eval_samples_per_prompt,
        seed=config.seed,
    )
    before = evaluation.evaluate_start(ctx, policy, tokenizer, eval_prompts, eval_ids, scorer, sampling)

    trainer = job_trainer(
        PPOTrainer(
            args=config,
            processing_class=tokenizer,
            model=policy,
            ref_model=reference,
            # TRL reads only `base_model_prefix` and `score` of it (see reward_adapter)
            reward_model=PolicyTokenRewardModel(scorer, tokenizer, known),  # type: ignore[arg-type]
            value_model=critic,
            train_dataset=Dataset.from_dict({"input_ids": train_ids}),
            eval_dataset=Dataset.from_dict({"input_ids": eval_ids}),
            callbacks=ctx.callbacks,
            peft_config=lora,
        )
    )
    keep_trainable_fp32(trainer.model)
    ctx.trainer_span = (0.05, 0.9)
    trainer.train()
    ctx.raise_if_cancelled()

    trained = trainer.accelerator.unwrap_model(trainer.model).policy
    ctx.log("evaluating the trained policy on the held-out prompts")
    after = evaluation.evaluate(
        trained, tokenizer, eval_prompts, eval_ids, scorer, sampling, reference=trainer.ref_model
    )
    # TRL's rollout batch: per_device_train_batch_size × gradient_accumulation_steps × num_mini_batches
    rollout_batch = config.per_device_train_batch_size * config.gradient_accumulation_steps
    return evaluation.finish_online_rl(
        ctx,
        sources,
        before,
        after,
        trained,
        tokenizer,
        prompts_per_batch=rollout_batch * config.num_mini_batches,
        ppo_steps=trainer.state.global_step,
    )
