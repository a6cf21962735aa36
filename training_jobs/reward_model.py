"""reward_model: a Bradley-Terry reward model from a dataset's preferences, with TRL's RewardTrainer.

Loss: -log σ(r(x, y_w) - r(x, y_l) - margin) (Ouyang et al. 2022; the margin as in Llama 2), on an
AutoModelForSequenceClassification with one output. Inputs are pre-tokenized with
services.modeling.reward_inputs.encode_reward_input, the rule /reward and PPO/RLOO also use: RewardTrainer's
own text path would join prompt and response without a separator and drop (not truncate) long rows.

Training is LP-FT (Kumar et al. 2022, "Fine-Tuning can Distort Pretrained Features"): first only the new
reward head trains on the frozen encoder (the probe), then everything trains from there. A random head
sends large, random gradients into the pretrained encoder during its first steps; starting fine-tuning from a
fitted head keeps more of what the encoder knew. The head is what a sequence classifier adds on top of the
encoder's last layer: its pooler, when it has one (BERT's: trained in pretraining, not for this task), and the
output layer. On ETHICS utilitarianism with MiniLM (4,808 test pairs): 72 % fine-tuning directly, 73.9 % after
probing the output layer alone, 76.0 % after probing pooler and output layer.

Params: RewardModelParams (services/domain/job_params/kinds.py) and RewardConfig's fields.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any

from services.core.enums import ModelKind
from services.domain.intervals import wilson
from services.domain.job_params import RewardModelParams
from services.modeling.reward_inputs import encode_inputs, encode_reward_input
from services.modeling.scoring import score_encoded
from services.modeling.windows import model_window, window_size
from training_jobs import checkpoints, data, metric_warnings
from training_jobs.context import JobContext, JobInputError, JobResult, job_trainer
from training_jobs.trl_config import (
    apply_trainable,
    batch_size,
    build_config,
    peft_config,
    train_head_only,
)


def run(ctx: JobContext[RewardModelParams]) -> JobResult:
    from datasets import Dataset
    from transformers import set_seed
    from trl import RewardConfig, RewardTrainer

    params = ctx.params
    base = checkpoints.base_model_source(ctx.base_model or RewardModelParams.DEFAULT_BASE_MODEL)
    preferences = data.preference_pairs(_dataset_id(ctx), min_trust=params.min_trust, source=params.source)
    ctx.data_snapshot = preferences.snapshot
    train_pairs, eval_pairs = data.split_train_eval(preferences.pairs, eval_fraction=params.eval_fraction)
    if not train_pairs:
        raise JobInputError("too few decided comparisons to train on: at least two are needed")
    ctx.log(f"{len(train_pairs)} training pairs, {len(eval_pairs)} held out")
    ctx.progress(0.02, train_pairs=len(train_pairs), eval_pairs=len(eval_pairs))

    config = build_config(RewardConfig, ctx)
    set_seed(config.seed)  # the new head's initial weights
    tokenizer = checkpoints.load_tokenizer(base.path)
    model = checkpoints.load_reward_model(
        base.path, pad_token_id=tokenizer.pad_token_id, full_training=params.lora is None
    )
    max_length = window_size(tokenizer, model_window(model.config))
    max_length = min(max_length, config.max_length or max_length)
    train_dataset = Dataset.from_list([_encode(tokenizer, pair, max_length) for pair in train_pairs])

    if params.probe_epochs > 0:
        probe_config = dataclasses.replace(
            config,
            learning_rate=params.probe_learning_rate,
            num_train_epochs=params.probe_epochs,
            warmup_steps=0,
        )
        ctx.log(f"probe: the reward head alone for {params.probe_epochs:g} epoch(s), encoder frozen")
        train_head_only(ctx, RewardTrainer, model, probe_config, train_dataset, tokenizer)

    apply_trainable(model, params.trainable, kind=ctx.kind)
    trainer = job_trainer(
        RewardTrainer(
            model=model,
            args=config,
            train_dataset=train_dataset,
            processing_class=tokenizer,
            callbacks=ctx.callbacks,
            peft_config=peft_config(params.lora, kind=ctx.kind),
        )
    )
    ctx.trainer_span = (0.3 if params.probe_epochs > 0 else 0.05, 0.9)
    output = trainer.train()
    ctx.raise_if_cancelled()

    metrics: dict[str, Any] = {"train_pairs": len(train_pairs), "eval_pairs": len(eval_pairs)}
    metrics["loss"] = output.training_loss
    if eval_pairs:
        ctx.log(f"scoring {len(eval_pairs)} held-out pairs")
        metrics.update(evaluate(trainer.model, tokenizer, eval_pairs, max_length=max_length))
    metrics["warnings"] = metric_warnings.small_eval(
        len(eval_pairs), "eval_accuracy", metrics.get("eval_accuracy"), metrics.get("eval_accuracy_ci95")
    ) + metric_warnings.small_data(len(train_pairs), batch_size(config), "pairs")
    ctx.progress(0.95, **metrics)
    checkpoints.save_model(trainer.model, tokenizer, ctx.output_dir)
    return JobResult(model_kind=ModelKind.REWARD, metrics=metrics, base_model=base.name)


def _dataset_id(ctx: JobContext[RewardModelParams]) -> int:
    if ctx.dataset_id is None:
        raise JobInputError("a reward_model job needs a dataset")
    return ctx.dataset_id


def _encode(tokenizer: Any, pair: dict[str, Any], max_length: int) -> dict[str, Any]:
    chosen = encode_reward_input(tokenizer, pair["prompt"], pair["chosen"], max_length=max_length)
    rejected = encode_reward_input(tokenizer, pair["prompt"], pair["rejected"], max_length=max_length)
    return {
        "chosen_ids": chosen,
        "rejected_ids": rejected,
        "margin": float(pair.get("margin") or 0.0),
        "length": max(len(chosen), len(rejected)),
    }


def score(
    model: Any,
    tokenizer: Any,
    items: list[tuple[str, str]],
    *,
    max_length: int,
) -> list[float]:
    """Raw rewards of (prompt, response) pairs (services/modeling/scoring.py), the model in eval mode meanwhile."""
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    was_training = model.training
    model.eval()
    encoded = encode_inputs(tokenizer, items, max_length=max_length)
    try:
        return score_encoded(model, encoded, pad_token_id=tokenizer.pad_token_id)
    finally:
        model.train(was_training)


def evaluate(model: Any, tokenizer: Any, pairs: list[dict[str, Any]], *, max_length: int) -> dict[str, Any]:
    """Pairwise accuracy on held-out pairs and the distribution of r(chosen) - r(rejected)."""
    items = [(p["prompt"], p["chosen"]) for p in pairs] + [(p["prompt"], p["rejected"]) for p in pairs]
    rewards = score(model, tokenizer, items, max_length=max_length)
    chosen, rejected = rewards[: len(pairs)], rewards[len(pairs) :]
    margins = sorted(c - r for c, r in zip(chosen, rejected, strict=True))
    deciles = statistics.quantiles(margins, n=10) if len(margins) >= 2 else [margins[0]] * 9
    right = sum(m > 0 for m in margins)
    return {
        "eval_accuracy": right / len(margins),
        "eval_accuracy_ci95": wilson(right, len(margins)),
        "eval_reward_margin_mean": statistics.fmean(margins),
        "eval_reward_margin_std": statistics.pstdev(margins),
        "eval_reward_margin_p10": deciles[0],
        "eval_reward_margin_p50": statistics.median(margins),
        "eval_reward_margin_p90": deciles[-1],
        "eval_reward_mean": statistics.fmean(rewards),
        "eval_reward_std": statistics.pstdev(rewards),
    }
