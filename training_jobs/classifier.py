"""classifier: a sequence classifier fine-tuned on a labelled dataset, whose version is a reward model.

The dataset's `{"text", "label"}` rows (up to the job's snapshot) are split by content hash into training and
held-out rows. An AutoModelForSequenceClassification on the base model (MiniLM by default; any encoder, or a
decoder with a classification head) gets one output per distinct label, `id2label`/`label2id` naming them in
services/domain/examples.label_names' order, and is fine-tuned with transformers' Trainer and cross-entropy,
LP-FT as the reward_model job does (training_jobs/reward_model.py): first the head alone on the frozen encoder
(MiniLM's pooler is not trained for this task, its classifier layer is new), then everything.
Texts are encoded as the reward scores them (services/modeling/reward_inputs.encode_response_input: the text
alone with the tokenizer's special tokens), so training and serving read the same input.

The version's `params.scoring` makes it a reward model: the logit, log-probability or probability
(`transform`) of `label` given the response alone (services/modeling/scoring.ScoreHead), served by /reward and
usable as a named reward's component, exactly like a classifier registered with POST /api/v1/models.

Metrics: eval_accuracy on the held-out rows with its 95 % interval, the sizes, and the accuracy of always
answering the most common training label (the baseline, from the same split).

Params: ClassifierParams (services/domain/job_params/kinds.py) and TrainingArguments' fields.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from services.core.enums import ModelKind, ScoreInput
from services.domain.examples import label_name, sorted_label_names
from services.domain.intervals import wilson
from services.domain.job_params import ClassifierParams
from services.modeling.reward_inputs import encode_response_input
from services.modeling.scoring import logits_encoded
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


def run(ctx: JobContext[ClassifierParams]) -> JobResult:
    from transformers import Trainer, TrainingArguments, set_seed

    params = ctx.params
    if ctx.dataset_id is None:
        raise JobInputError("a classifier job needs a labelled dataset")
    base = checkpoints.base_model_source(ctx.base_model or ClassifierParams.DEFAULT_BASE_MODEL)
    rows = data.labelled_rows(ctx.dataset_id)
    ctx.data_snapshot = rows.snapshot
    labels = sorted_label_names([row["label"] for row in rows.pairs])
    target = label_name(params.label) if params.label is not None else None
    if len(labels) < 2 or target not in labels:
        raise JobInputError(f"params.label {params.label!r} must be one of the dataset's labels {labels}")
    train_rows, eval_rows = data.split_train_eval(rows.pairs, eval_fraction=params.eval_fraction)
    if not train_rows:
        raise JobInputError("too few labelled rows to train on: at least two are needed")
    ctx.log(f"{len(train_rows)} training rows, {len(eval_rows)} held out; labels {labels}")
    ctx.progress(0.02, train_examples=len(train_rows), eval_examples=len(eval_rows))

    config = build_config(TrainingArguments, ctx)
    set_seed(config.seed)  # the new head's initial weights
    tokenizer = checkpoints.load_tokenizer(base.path)
    model = checkpoints.load_classifier(
        base.path, labels, pad_token_id=tokenizer.pad_token_id, full_training=params.lora is None
    )
    max_length = min(params.max_length, window_size(tokenizer, model_window(model.config)))
    index = {name: i for i, name in enumerate(labels)}
    train_dataset = [_encode(tokenizer, row, index, max_length) for row in train_rows]

    if params.probe_epochs > 0:
        probe_config = dataclasses.replace(
            config,
            learning_rate=params.probe_learning_rate,
            num_train_epochs=params.probe_epochs,
            warmup_steps=0,
        )
        ctx.log(f"probe: the head alone for {params.probe_epochs:g} epoch(s), encoder frozen")
        train_head_only(ctx, Trainer, model, probe_config, train_dataset, tokenizer)

    lora = peft_config(params.lora, kind=ctx.kind)
    if lora is not None:
        from peft import get_peft_model

        model = get_peft_model(model, lora)
    apply_trainable(model, params.trainable, kind=ctx.kind)
    trainer = job_trainer(
        Trainer(
            model=model,
            args=config,
            train_dataset=train_dataset,  # type: ignore[arg-type]  # a list of rows is a map-style dataset
            processing_class=tokenizer,  # its DataCollatorWithPadding pads each batch
            callbacks=ctx.callbacks,
        )
    )
    ctx.trainer_span = (0.3 if params.probe_epochs > 0 else 0.05, 0.9)
    output = trainer.train()
    ctx.raise_if_cancelled()

    metrics: dict[str, Any] = {
        "train_examples": len(train_rows),
        "eval_examples": len(eval_rows),
        "labels": labels,
        "loss": output.training_loss,
    }
    counts = Counter(label_name(row["label"]) for row in train_rows)
    baseline_label = counts.most_common(1)[0][0]
    if eval_rows:
        ctx.log(f"classifying {len(eval_rows)} held-out rows")
        metrics.update(evaluate(trainer.model, tokenizer, eval_rows, labels, max_length=max_length))
        majority = sum(label_name(row["label"]) == baseline_label for row in eval_rows) / len(eval_rows)
        metrics["eval_majority_accuracy"] = majority
        metrics["warnings"] = metric_warnings.below_baseline(
            metrics["eval_accuracy"], majority, metrics["eval_accuracy_ci95"]
        )
    else:
        metrics["warnings"] = []
    metrics["warnings"] += metric_warnings.small_eval(
        len(eval_rows),
        "eval_accuracy",
        metrics.get("eval_accuracy"),
        metrics.get("eval_accuracy_ci95"),
        what="examples",
    ) + metric_warnings.small_data(len(train_rows), batch_size(config), "examples")
    ctx.progress(0.95, **metrics)
    checkpoints.save_model(trainer.model, tokenizer, ctx.output_dir)
    scoring = {
        "label": target,
        "label_index": index[target],
        "transform": params.transform,
        "input": ScoreInput.RESPONSE,
    }
    return JobResult(
        model_kind=ModelKind.REWARD,
        metrics=metrics,
        base_model=base.name,
        version_params={"scoring": scoring},
    )


def _encode(tokenizer: Any, row: dict[str, Any], index: dict[str, int], max_length: int) -> dict[str, Any]:
    ids = encode_response_input(tokenizer, row["text"], max_length=max_length)
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": index[label_name(row["label"])]}


def evaluate(
    model: Any, tokenizer: Any, rows: list[dict[str, Any]], labels: list[str], *, max_length: int
) -> dict[str, Any]:
    """Held-out accuracy (the arg-max label against the row's label) with its 95 % interval, per label too."""
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    was_training = model.training
    model.eval()
    encoded = [encode_response_input(tokenizer, row["text"], max_length=max_length) for row in rows]
    try:
        logits = logits_encoded(model, encoded, pad_token_id=tokenizer.pad_token_id)
    finally:
        model.train(was_training)
    truth = [label_name(row["label"]) for row in rows]
    predicted = [labels[max(range(len(row)), key=row.__getitem__)] for row in logits]
    right = sum(p == t for p, t in zip(predicted, truth, strict=True))
    per_label = {}
    for name in labels:
        cases = [p == t for p, t in zip(predicted, truth, strict=True) if t == name]
        if cases:
            per_label[name] = {"examples": len(cases), "accuracy": sum(cases) / len(cases)}
    return {
        "eval_accuracy": right / len(rows),
        "eval_accuracy_ci95": wilson(right, len(rows)),
        "eval_accuracy_by_label": per_label,
    }
