"""Checking a job's `params` before it is queued, without importing torch, transformers or TRL.

The TRL config fields a job kind accepts come from `trl_fields.py`, a table generated from the installed TRL
(`python -m training_jobs.param_table --write`; a test fails when it is stale). Values are checked against
JSON kinds only ("int", "float", "str", ...): value ranges and choices are TRL's to judge, in the worker.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from services.core.errors import InvalidInputError
from services.domain.trl_fields import KIND_CONFIG, KIND_EXTRA_PARAMS, TRAINING_ARGUMENTS, TRL_CONFIG_FIELDS

# Params every job kind understands, besides its TRL config fields (see DESIGN.md "Job params").
COMMON_PARAMS: dict[str, tuple[str, ...]] = {
    "policy_version_id": ("int",),
    "reward_model_version_id": ("int",),
    "lora": ("dict",),
    "trainable": ("list",),
    "num_processes": ("int",),
}

# TRL fields the platform sets itself: where checkpoints go, where metrics are reported, hub uploads.
RESERVED_FIELDS = frozenset(
    {
        "output_dir",
        "logging_dir",
        "report_to",
        "push_to_hub",
        "hub_model_id",
        "hub_token",
        "hub_strategy",
        "hub_private_repo",
        "resume_from_checkpoint",
        "overwrite_output_dir",
    }
)

LORA_KEYS: dict[str, tuple[str, ...]] = {
    "r": ("int",),
    "alpha": ("int", "float"),
    "dropout": ("float",),
    "target_modules": ("list", "str"),
    "modules_to_save": ("list",),
    "bias": ("str",),
}


def kinds_of(annotation: Any) -> tuple[str, ...]:
    """The JSON kinds a dataclass field's annotation accepts; () when no JSON value fits (a Python object)."""
    if annotation is Any or annotation is typing.Any:
        return ("any",)
    if annotation is type(None) or annotation is None:
        return ("null",)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        found: list[str] = []
        for arg in typing.get_args(annotation):
            found.extend(kind for kind in kinds_of(arg) if kind not in found)
        return tuple(sorted(found))
    if origin is typing.Literal:
        return tuple(sorted({_kind_of_value(value) for value in typing.get_args(annotation)}))
    base = origin or annotation
    if not isinstance(base, type):
        return ("any",)
    if issubclass(base, bool):
        return ("bool",)
    if issubclass(base, Enum) or issubclass(base, str | Path):
        return ("str",)
    if issubclass(base, int):
        return ("int",)
    if issubclass(base, float):
        return ("float",)
    if issubclass(base, Mapping):
        return ("dict",)
    if issubclass(base, list | tuple | set):
        return ("list",)
    return ()


def _kind_of_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str | Enum):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return "any"


def value_fits(kinds: tuple[str, ...], value: Any) -> bool:
    """Whether a JSON value is one of `kinds`; an int is a valid float (JSON has one number type)."""
    kind = _kind_of_value(value)
    return "any" in kinds or kind in kinds or (kind == "int" and "float" in kinds)


def _describe(kinds: tuple[str, ...]) -> str:
    return " or ".join(kinds) if kinds else "not settable through params"


def _check_field(kind: str, name: str, kinds: tuple[str, ...], value: Any) -> None:
    if not kinds or not value_fits(kinds, value):
        raise InvalidInputError(
            f"params.{name} must be {_describe(kinds)} for {kind}, got {_kind_of_value(value)} {value!r}"
        )


def trl_fields(kind: str) -> dict[str, tuple[str, ...]]:
    """TRL config fields settable through params for a job kind (empty for kinds without a TRL config)."""
    config = KIND_CONFIG.get(kind)
    if config is None:
        return {}
    fields = {**TRAINING_ARGUMENTS, **TRL_CONFIG_FIELDS[config]}
    return {name: kinds for name, kinds in fields.items() if name not in RESERVED_FIELDS}


def validate(kind: str, params: Mapping[str, Any]) -> None:
    """Raise InvalidInputError naming the first unknown or ill-typed param."""
    extra = KIND_EXTRA_PARAMS.get(kind, {})
    trl = trl_fields(kind)
    for name, value in params.items():
        if name in COMMON_PARAMS:
            _check_field(kind, name, COMMON_PARAMS[name], value)
        elif name in extra:
            _check_field(kind, name, extra[name], value)
        elif name in trl:
            _check_field(kind, name, trl[name], value)
        elif name in RESERVED_FIELDS:
            raise InvalidInputError(f"params.{name} is set by the platform and cannot be given")
        else:
            config = KIND_CONFIG.get(kind)
            where = f"TRL's {config}" if config else "this job kind"
            raise InvalidInputError(f"unknown parameter params.{name} for {kind} (not a field of {where})")
    _check_common(params)


def _check_common(params: Mapping[str, Any]) -> None:
    if "lora" in params and "trainable" in params:
        raise InvalidInputError("params.lora and params.trainable are alternatives: give one of them")
    lora = params.get("lora")
    if lora is not None:
        for key, value in lora.items():
            if key not in LORA_KEYS:
                raise InvalidInputError(f"unknown key params.lora.{key} (known: {', '.join(LORA_KEYS)})")
            if not value_fits(LORA_KEYS[key], value):
                raise InvalidInputError(f"params.lora.{key} must be {_describe(LORA_KEYS[key])}")
        if "r" in lora and lora["r"] < 1:
            raise InvalidInputError("params.lora.r must be at least 1")
    trainable = params.get("trainable")
    if trainable is not None and (not trainable or not all(isinstance(p, str) and p for p in trainable)):
        raise InvalidInputError("params.trainable must be a non-empty list of parameter name prefixes")
    num_processes = params.get("num_processes")
    if num_processes is not None and not 1 <= num_processes <= 64:
        raise InvalidInputError("params.num_processes must be between 1 and 64")
    for key in ("policy_version_id", "reward_model_version_id"):
        if key in params and params[key] < 1:
            raise InvalidInputError(f"params.{key} must be a model version id")
