"""sft: supervised fine-tuning of a policy on demonstrations, with TRL's SFTTrainer.

Demonstrations are the chosen responses of the dataset's decided comparisons (prompt → completion); the loss
covers the completion only (TRL's default for prompt-completion data). A policy with a chat template gets
them as conversations (training_jobs/chat_format.py), so TRL trains on the template's turns.

`fine_tune` is the training itself, shared with the rejection_sampling job (which fine-tunes on the best of
its samples).

Params: SftParams (services/domain/job_params/kinds.py) and SFTConfig's fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.core.enums import ModelKind
from services.domain.job_params import SftParams
from training_jobs import checkpoints, data, metric_warnings
from training_jobs.chat_format import describe, trainer_prompt, trainer_response
from training_jobs.checkpoints import ModelSource
from training_jobs.context import JobContext, JobInputError, JobResult, job_trainer
from training_jobs.trl_config import (
    apply_trainable,
    batch_size,
    build_config,
    keep_trainable_fp32,
    peft_config,
)


@dataclass
class FineTuned:
    trainer: Any  # the SFTTrainer; its `model` is the trained policy (a peft model with LoRA)
    tokenizer: Any
    metrics: dict[str, Any]


def run(ctx: JobContext[SftParams]) -> JobResult:
    if ctx.dataset_id is None:
        raise JobInputError("an sft job needs a dataset")
    params = ctx.params
    start = checkpoints.policy_source(ctx, params.policy_version_id)
    demos = data.demonstrations(ctx.dataset_id, min_trust=params.min_trust, source=params.source)
    ctx.data_snapshot = demos.snapshot
    train_rows, eval_rows = data.split_train_eval(demos.pairs, eval_fraction=params.eval_fraction)
    if not train_rows:
        raise JobInputError("too few demonstrations to train on: at least two decided comparisons are needed")
    ctx.log(
        f"{len(train_rows)} demonstrations for training, {len(eval_rows)} held out; starting from {start.name}"
    )
    ctx.progress(0.02, train_examples=len(train_rows), eval_examples=len(eval_rows))

    tuned = fine_tune(ctx, start, train_rows, eval_rows, span=(0.05, 0.9))
    ctx.progress(0.95, **tuned.metrics)
    checkpoints.save_model(tuned.trainer.model, tuned.tokenizer, ctx.output_dir)
    return JobResult(model_kind=ModelKind.POLICY, metrics=tuned.metrics, base_model=start.name)


def fine_tune(
    ctx: JobContext[Any],
    start: ModelSource,
    train_rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]],
    *,
    span: tuple[float, float],
) -> FineTuned:
    """SFT of the policy at `start` on {"prompt", "completion"} rows with the job's SFTConfig, LoRA or
    trainable layers (ctx.params.lora, ctx.params.trainable); `span`: the share of the job's progress the
    trainer covers. The metrics: train_examples, eval_examples, loss, eval_loss (with eval rows), warnings."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    params = ctx.params
    tokenizer = checkpoints.load_tokenizer(start.path)
    model = checkpoints.load_causal_lm(start.path, full_training=params.lora is None)
    config = build_config(SFTConfig, ctx)
    ctx.log(describe(tokenizer, train_rows[0]["prompt"]))
    apply_trainable(model, params.trainable, kind=ctx.kind)

    def examples(rows: list[dict[str, Any]]) -> Any:
        return Dataset.from_list(
            [
                {
                    "prompt": trainer_prompt(tokenizer, row["prompt"]),
                    "completion": trainer_response(tokenizer, row["completion"]),
                }
                for row in rows
            ]
        )

    trainer = job_trainer(
        SFTTrainer(
            model=model,
            args=config,
            train_dataset=examples(train_rows),
            eval_dataset=examples(eval_rows) if eval_rows else None,
            processing_class=tokenizer,
            callbacks=ctx.callbacks,
            peft_config=peft_config(params.lora, kind=ctx.kind),
        )
    )
    keep_trainable_fp32(trainer.model)
    ctx.trainer_span = span
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
    metrics["warnings"] = metric_warnings.small_data(len(train_rows), batch_size(config), "demonstrations")
    return FineTuned(trainer, tokenizer, metrics)
