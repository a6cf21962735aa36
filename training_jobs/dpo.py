"""dpo: a policy straight from the preferences, no reward model, with TRL's DPOTrainer (Rafailov et al. 2023).

The reference model is an explicit frozen copy of the starting policy: with ref_model=None and no LoRA, TRL
would reload it from `config._name_or_path` on disk rather than use the weights in memory
(docs/training-notes.md).
With LoRA the adapter-disabled model is the reference and no copy is made. A policy with a chat template
gets the pairs as conversations (training_jobs/chat_format.py).

Params: DpoParams (services/domain/job_params/kinds.py) and DPOConfig's fields.
"""

from __future__ import annotations

from typing import Any

from services.core.enums import ModelKind
from services.domain.intervals import wilson
from services.domain.job_params import DpoParams
from training_jobs import checkpoints, data, metric_warnings
from training_jobs.chat_format import describe, trainer_prompt, trainer_response
from training_jobs.context import JobContext, JobInputError, JobResult, job_trainer
from training_jobs.trl_config import (
    apply_trainable,
    batch_size,
    build_config,
    keep_trainable_fp32,
    peft_config,
)


def run(ctx: JobContext[DpoParams]) -> JobResult:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    if ctx.dataset_id is None:
        raise JobInputError("a dpo job needs a dataset")
    params = ctx.params
    start = checkpoints.policy_source(ctx, params.policy_version_id)
    preferences = data.preference_pairs(ctx.dataset_id, min_trust=params.min_trust, source=params.source)
    ctx.data_snapshot = preferences.snapshot
    rows = [
        {"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"]} for p in preferences.pairs
    ]
    train_rows, eval_rows = data.split_train_eval(rows, eval_fraction=params.eval_fraction)
    if not train_rows:
        raise JobInputError("too few decided comparisons to train on: at least two are needed")
    ctx.log(
        f"{len(train_rows)} preference pairs for training, {len(eval_rows)} held out; starting from {start.name}"
    )
    ctx.progress(0.02, train_pairs=len(train_rows), eval_pairs=len(eval_rows))

    tokenizer = checkpoints.load_tokenizer(start.path)
    lora = peft_config(params.lora, kind=ctx.kind)
    model = checkpoints.load_causal_lm(start.path, full_training=lora is None)
    reference = None if lora is not None else checkpoints.load_causal_lm(start.path)
    config = build_config(DPOConfig, ctx)
    ctx.log(describe(tokenizer, train_rows[0]["prompt"]))
    apply_trainable(model, params.trainable, kind=ctx.kind)

    def examples(rows: list[dict[str, Any]]) -> Any:
        return Dataset.from_list(
            [
                {
                    "prompt": trainer_prompt(tokenizer, row["prompt"]),
                    "chosen": trainer_response(tokenizer, row["chosen"]),
                    "rejected": trainer_response(tokenizer, row["rejected"]),
                }
                for row in rows
            ]
        )

    trainer = job_trainer(
        DPOTrainer(
            model=model,
            ref_model=reference,
            args=config,
            train_dataset=examples(train_rows),
            eval_dataset=examples(eval_rows) if eval_rows else None,
            processing_class=tokenizer,
            callbacks=ctx.callbacks,
            peft_config=lora,
        )
    )
    keep_trainable_fp32(trainer.model)
    ctx.trainer_span = (0.05, 0.9)
    output = trainer.train()
    ctx.raise_if_cancelled()

    metrics: dict[str, Any] = {
        "train_pairs": len(train_rows),
        "eval_pairs": len(eval_rows),
        "loss": output.training_loss,
    }
    if eval_rows:
        ctx.log(f"evaluating on {len(eval_rows)} held-out pairs")
        evaluation = trainer.evaluate()
        metrics["eval_loss"] = evaluation["eval_loss"]
        # DPO's implicit reward β·log(π/π_ref): how often it prefers the chosen response, and by how much.
        metrics["eval_reward_accuracy"] = evaluation.get("eval_rewards/accuracies")
        metrics["eval_reward_margin"] = evaluation.get("eval_rewards/margins")
        accuracy = metrics["eval_reward_accuracy"]
        if isinstance(accuracy, float):  # a mean over the held-out pairs: a share of them
            metrics["eval_reward_accuracy_ci95"] = wilson(round(accuracy * len(eval_rows)), len(eval_rows))
    metrics["warnings"] = metric_warnings.small_eval(
        len(eval_rows),
        "eval_reward_accuracy",
        metrics.get("eval_reward_accuracy"),
        metrics.get("eval_reward_accuracy_ci95"),
    ) + metric_warnings.small_data(len(train_rows), batch_size(config), "pairs")
    ctx.progress(0.95, **metrics)
    checkpoints.save_model(trainer.model, tokenizer, ctx.output_dir)
    return JobResult(model_kind=ModelKind.POLICY, metrics=metrics, base_model=start.name)
