"""sft: supervised fine-tuning of a policy on demonstrations, with TRL's SFTTrainer.

Demonstrations are the chosen responses of the dataset's decided comparisons (prompt → completion); the loss
covers the completion only (TRL's default for prompt-completion data).

Params besides SFTConfig's fields: eval_fraction (share held out for eval_loss, default 0.1),
policy_version_id (start from this policy version instead of base_model).
"""

from __future__ import annotations

from typing import Any

from services.core.enums import ModelKind
from training_jobs import checkpoints, data
from training_jobs.context import JobContext, JobInputError, JobResult
from training_jobs.trl_config import apply_trainable, build_config, peft_config

EXTRA_PARAMS: dict[str, Any] = {"eval_fraction": float}

# Llama 2's SFT recipe (Touvron et al. 2023, §3.1) scaled down: lr 2e-5, weight decay 0.1, cosine schedule.
DEFAULTS: dict[str, Any] = {
    "learning_rate": 2e-5,
    "weight_decay": 0.1,
    "per_device_train_batch_size": 8,
    "max_length": 1024,
}


def run(ctx: JobContext) -> JobResult:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    if ctx.dataset_id is None:
        raise JobInputError("an sft job needs a dataset")
    path, base_name = checkpoints.policy_source(ctx)
    demos = data.demonstrations(ctx.dataset_id)
    ctx.data_snapshot = demos.snapshot
    train_rows, eval_rows = data.split_train_eval(
        demos.pairs, eval_fraction=float(ctx.params.get("eval_fraction", 0.1))
    )
    if not train_rows:
        raise JobInputError("too few demonstrations to train on: at least two decided comparisons are needed")
    ctx.log(
        f"{len(train_rows)} demonstrations for training, {len(eval_rows)} held out; starting from {base_name}"
    )
    ctx.progress(0.02, train_examples=len(train_rows), eval_examples=len(eval_rows))

    tokenizer = checkpoints.load_tokenizer(path)
    model = checkpoints.load_causal_lm(path)
    config = build_config(SFTConfig, ctx, **DEFAULTS)
    ctx.record_config(config)
    apply_trainable(model, ctx)
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
        callbacks=ctx.callbacks,
        peft_config=peft_config(ctx),
    )
    ctx.trainer_span = (0.05, 0.9)
    output = trainer.train()
    ctx.raise_if_cancelled()

    metrics: dict[str, Any] = {
        "train_examples": len(train_rows),
        "eval_examples": len(eval_rows),
        "loss": output.training_loss,
    }
    if eval_rows:
        ctx.log(f"evaluating on {len(eval_rows)} held-out demonstrations")
        evaluation = trainer.evaluate()
        metrics["eval_loss"] = evaluation["eval_loss"]
        if "eval_mean_token_accuracy" in evaluation:
            metrics["eval_mean_token_accuracy"] = evaluation["eval_mean_token_accuracy"]
    ctx.progress(0.95, **metrics)
    checkpoints.save_model(trainer.model, tokenizer, ctx.output_dir)
    return JobResult(model_kind=ModelKind.POLICY, metrics=metrics, base_model=base_name)
