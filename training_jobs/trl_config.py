"""TRL configs for jobs: device settings, Llama-2-style defaults, then the user's params; LoRA and frozen layers.

Order of precedence: platform settings (device, scratch dir, reporting) < the job module's defaults <
the user's params (TRL field names). An unknown or ill-typed param is a JobInputError before any model loads.
"""

from __future__ import annotations

import dataclasses
import importlib
import tempfile
import typing
from typing import Any, TypeVar

from services.domain.job_params import COMMON_PARAMS, RESERVED_FIELDS, kinds_of, value_fits
from training_jobs.context import JobContext, JobInputError

ConfigT = TypeVar("ConfigT")

# Llama 2 (Touvron et al. 2023, §3.2.2 and §3.2.2's reward model): cosine schedule down to 10 % of the peak
# learning rate, warm-up, one epoch.
LLAMA2_DEFAULTS: dict[str, Any] = {
    "num_train_epochs": 1,
    "lr_scheduler_type": "cosine_with_min_lr",
    "lr_scheduler_kwargs": {"min_lr_rate": 0.1},
    # transformers 5 folded warmup_ratio into warmup_steps: a value below 1 is a fraction of the steps.
    "warmup_steps": 0.03,
}

LORA_DEFAULTS: dict[str, Any] = {"r": 8, "alpha": 16, "dropout": 0.05}

# Heads that a reward model (a sequence classifier) always trains: they start random.
REWARD_HEADS = ("score", "classifier")


def device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_settings() -> dict[str, Any]:
    """CUDA with bf16 where the GPU supports it; otherwise CPU in fp32 (TRL defaults to bf16, which fails on
    CPU, and to gradient checkpointing, which only slows a CPU down: see TRL-NOTES)."""
    import torch

    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return {"use_cpu": False, "bf16": bf16, "fp16": not bf16}
    return {"use_cpu": True, "bf16": False, "fp16": False, "activation_checkpointing": False}


def module_extra_params(kind: str) -> set[str]:
    """The params a job module reads itself (its EXTRA_PARAMS), which are not TRL fields."""
    module = importlib.import_module(f"training_jobs.{kind}")
    return set(getattr(module, "EXTRA_PARAMS", {}))


def build_config(config_cls: type[ConfigT], ctx: JobContext, **defaults: Any) -> ConfigT:
    """The job's TRL config; see the module docstring for the order of precedence."""
    hints = typing.get_type_hints(config_cls)
    fields = {f.name for f in dataclasses.fields(config_cls) if f.init}  # type: ignore[arg-type]
    not_trl = set(COMMON_PARAMS) | module_extra_params(ctx.kind)
    user: dict[str, Any] = {}
    for name, value in ctx.params.items():
        if name in not_trl:
            continue
        if name not in fields:
            raise JobInputError(
                f"unknown parameter params.{name} (not a field of TRL's {config_cls.__name__})"
            )
        if name in RESERVED_FIELDS:
            raise JobInputError(f"params.{name} is set by the platform and cannot be given")
        kinds = kinds_of(hints.get(name, Any))
        if not value_fits(kinds, value):
            raise JobInputError(
                f"params.{name} must be {' or '.join(kinds) or 'a Python object'}, got {value!r}"
            )
        user[name] = value
    scratch = ctx.scratch_dir or tempfile.mkdtemp(prefix=f"rlhf-job-{ctx.job_id}-")
    values = {
        "output_dir": str(scratch),
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": 0.02,  # about 50 points on the curves, whatever the length of the run
        "disable_tqdm": True,
        **device_settings(),
        **LLAMA2_DEFAULTS,
        **{k: v for k, v in defaults.items() if k in fields},
        **user,
    }
    unknown_defaults = set(defaults) - fields
    if unknown_defaults:
        raise TypeError(f"{config_cls.__name__} has no fields {sorted(unknown_defaults)}")
    try:
        return config_cls(**values)
    except (TypeError, ValueError) as error:
        raise JobInputError(f"invalid training parameters: {error}") from error


def peft_config(ctx: JobContext) -> Any:
    """A LoraConfig from params["lora"] = {"r", "alpha", "dropout", "target_modules", ...}, or None."""
    lora = ctx.params.get("lora")
    if lora is None:
        return None
    from peft import LoraConfig, TaskType

    options = {**LORA_DEFAULTS, **lora}
    return LoraConfig(
        r=options["r"],
        lora_alpha=options["alpha"],
        lora_dropout=options["dropout"],
        # None: peft's default modules for known architectures (c_attn for GPT-2, query/value for BERT).
        target_modules=options.get("target_modules"),
        modules_to_save=options.get("modules_to_save"),
        bias=options.get("bias", "none"),
        task_type=TaskType.SEQ_CLS if ctx.kind == "reward_model" else TaskType.CAUSAL_LM,
    )


def apply_lora(model: Any, ctx: JobContext) -> Any:
    """Wrap the model with LoRA adapters when params["lora"] is given (for loops that are not TRL trainers)."""
    config = peft_config(ctx)
    if config is None:
        return model
    from peft import get_peft_model

    try:
        return get_peft_model(model, config)
    except ValueError as error:
        raise JobInputError(f"params.lora does not fit this model: {error}") from error


def apply_trainable(model: Any, ctx: JobContext) -> None:
    """Freeze every parameter whose name starts with none of params["trainable"] (a reward head always trains)."""
    prefixes = ctx.params.get("trainable")
    if not prefixes:
        return
    keep = tuple(prefixes) + (REWARD_HEADS if ctx.kind == "reward_model" else ())
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
