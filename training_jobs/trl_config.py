"""TRL configs for jobs: the resolved params (services/domain/job_params) plus what only the worker knows (the
device, where checkpoints go); LoRA and frozen layers.

Params were checked before the job was queued; what is left to TRL is its own validation of values (its
config's __post_init__), which becomes a JobInputError before any model loads.
"""

from __future__ import annotations

import tempfile
from typing import Any, TypeVar

from services.core.enums import JobKind
from services.domain.job_params import LoraParams
from training_jobs.context import JobContext, JobInputError, job_trainer

ConfigT = TypeVar("ConfigT")

# Heads that a reward model (a sequence classifier) always trains: they start random.
REWARD_HEADS = ("score", "classifier")
# The kinds that train a sequence classifier (a reward head on an encoder or decoder).
CLASSIFIER_KINDS = frozenset({JobKind.REWARD_MODEL, JobKind.CLASSIFIER})


def is_head_parameter(name: str) -> bool:
    """Whether a parameter belongs to what a sequence classifier adds on top of the encoder: its output layer
    and its pooler, where it has one."""
    return name.startswith(REWARD_HEADS) or ".pooler." in f".{name}"


def train_head_only(
    ctx: JobContext[Any], trainer_cls: Any, model: Any, config: Any, train_dataset: Any, tokenizer: Any
) -> None:
    """The probe of LP-FT (the reward_model and classifier jobs): only the head (pooler and output layer)
    trains, on the frozen encoder, with `trainer_cls`; its curves are renamed probe_*, the full training's
    follow them."""
    trainable = {name: parameter.requires_grad for name, parameter in model.named_parameters()}
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(is_head_parameter(name))
    logged_before = len(ctx.history)
    ctx.trainer_span = (0.05, 0.3)
    job_trainer(
        trainer_cls(
            model=model,
            args=config,
            train_dataset=train_dataset,
            processing_class=tokenizer,
            callbacks=ctx.callbacks,
        )
    ).train()
    ctx.raise_if_cancelled()
    for entry in ctx.history[logged_before:]:
        for key in [key for key in entry if key != "step"]:
            entry[f"probe_{key}"] = entry.pop(key)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(trainable[name])


def device_settings() -> dict[str, Any]:
    """CUDA with bf16 where the GPU supports it; otherwise CPU in fp32 (TRL defaults to bf16, which fails on
    CPU, and to gradient checkpointing, which only slows a CPU down: see docs/training-notes.md)."""
    import torch

    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return {"use_cpu": False, "bf16": bf16, "fp16": not bf16}
    return {"use_cpu": True, "bf16": False, "fp16": False, "activation_checkpointing": False}


def build_config(config_cls: type[ConfigT], ctx: JobContext[Any]) -> ConfigT:
    """The job's TRL config: the platform's settings for this worker, then the resolved params (schedule,
    the kind's defaults, the explicit ones); recorded in job.config with where each value came from."""
    scratch = ctx.scratch_dir or tempfile.mkdtemp(prefix=f"rlhf-job-{ctx.job_id}-")
    platform = {
        "output_dir": str(scratch),
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": 0.02,  # about 50 points on the curves, whatever the length of the run
        "disable_tqdm": True,
        **device_settings(),
    }
    try:
        config = config_cls(**{**platform, **ctx.resolved.trl})
    except (TypeError, ValueError) as error:
        raise JobInputError(f"invalid training parameters: {error}") from error
    ctx.record_config(config, platform=frozenset(platform) - set(ctx.resolved.trl))
    with_min_warmup(config, getattr(ctx.params, "min_warmup_steps", 0))
    return config


def with_min_warmup(config: Any, minimum: int) -> Any:
    """Make the trainer warm up for at least `minimum` steps (params.min_warmup_steps): Llama 2's "3 % of the
    total number of steps, with a minimum of 5" (§3.2.2). transformers has a fraction (warmup_steps < 1) or a
    count, not both; every trainer asks the config's get_warmup_steps(total steps) when it builds its
    scheduler (transformers.Trainer.create_scheduler, which TRL's PPO uses too)."""
    if minimum <= 0:
        return config
    by_fraction = config.get_warmup_steps

    def get_warmup_steps(num_training_steps: int) -> int:
        return max(minimum, int(by_fraction(num_training_steps)))

    config.get_warmup_steps = get_warmup_steps
    return config


def batch_size(config: Any) -> int:
    """Rows per optimizer step on one process (what one process's data must fill)."""
    return int(config.per_device_train_batch_size * config.gradient_accumulation_steps)


def peft_config(lora: LoraParams | None, *, kind: JobKind) -> Any:
    """A peft LoraConfig from params.lora, or None."""
    if lora is None:
        return None
    from peft import LoraConfig, TaskType

    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        # None: peft's default modules for known architectures (c_attn for GPT-2, query/value for BERT).
        target_modules=lora.target_modules,
        modules_to_save=lora.modules_to_save,
        bias=lora.bias,
        task_type=TaskType.SEQ_CLS if kind in CLASSIFIER_KINDS else TaskType.CAUSAL_LM,
    )


def apply_trainable(model: Any, prefixes: list[str] | None, *, kind: JobKind) -> None:
    """Freeze every parameter whose name starts with none of `prefixes` (params.trainable; a reward head
    always trains)."""
    if not prefixes:
        return
    keep = tuple(prefixes) + (REWARD_HEADS if kind in CLASSIFIER_KINDS else ())
    matched = 0
    for name, parameter in model.named_parameters():
        trainable = name.startswith(keep)
        parameter.requires_grad_(trainable)
        matched += trainable and name.startswith(tuple(prefixes))
    if matched == 0:
        roots = sorted({name.rsplit(".", 2)[0] for name, _ in model.named_parameters()})[:20]
        raise JobInputError(
            f"params.trainable {prefixes} matches no parameter of this model; names start like: {', '.join(roots)}"
        )


def keep_trainable_fp32(model: Any) -> None:
    """Trainable weights in fp32 over a bf16/fp16 base (a LoRA job on a GPU, services/modeling/device.py):
    peft upcasts its adapters already, this also covers `modules_to_save` copies and heads. Call it after the
    trainer wrapped the model and before `train()` builds the optimizer."""
    import torch

    for parameter in model.parameters():
        if parameter.requires_grad and parameter.dtype in (torch.bfloat16, torch.float16):
            parameter.data = parameter.data.float()
