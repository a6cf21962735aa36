"""What each job kind takes, as data: GET /api/v1/job-kinds, `rlhf train KIND --help` and a console's forms
read it. It is the kinds' declarations (kinds.py), described, not a second copy of them."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from services.core.enums import DatasetKind, JobKind
from services.domain.job_params.fields import BOUNDS, Params
from services.domain.job_params.json_kinds import kinds_of
from services.domain.job_params.kinds import SCHEDULE_DEFAULTS
from services.domain.job_params.presets import base_models_for, recipes_for
from services.domain.job_params.resolution import choices_of, nested_params, params_class


@dataclass(frozen=True)
class ParamDescription:
    name: str
    types: tuple[str, ...]  # JSON kinds: int, float, str, bool, list, dict, null
    default: Any
    help: str
    bounds: dict[str, float]  # ge, gt, le, lt
    choices: tuple[Any, ...]  # the values allowed, when only a few are
    fields: tuple[ParamDescription, ...] = ()  # an object's own parameters (params.lora)


@dataclass(frozen=True)
class KindDescription:
    kind: JobKind
    description: str
    params: tuple[ParamDescription, ...]
    trl_config: str | None  # its fields are accepted too, by their TRL names
    trl_defaults: dict[str, Any]  # what the platform and the kind set in it, before explicit params
    default_base_model: str | None
    dataset_kinds: tuple[DatasetKind, ...]  # the kinds of dataset the job reads
    # Over the kind's defaults: per base model name, then per recipe name (presets.py); explicit params win.
    base_model_defaults: dict[str, dict[str, Any]]
    recipes: dict[str, dict[str, Any]]


def describe_params(cls: type[Params]) -> tuple[ParamDescription, ...]:
    hints = typing.get_type_hints(cls)
    described = []
    for field in dataclasses.fields(cls):
        nested = nested_params(hints[field.name])
        described.append(
            ParamDescription(
                name=field.name,
                types=kinds_of(hints[field.name]),
                default=field.default,
                help=field.metadata["help"],
                bounds={bound: field.metadata[bound] for bound in BOUNDS if bound in field.metadata},
                choices=choices_of(hints[field.name]),
                fields=describe_params(nested) if nested is not None else (),
            )
        )
    return tuple(described)


def describe_kind(kind: JobKind | str) -> KindDescription:
    cls = params_class(kind)
    trl_defaults = {**SCHEDULE_DEFAULTS, **cls.TRL_DEFAULTS} if cls.TRL_CONFIG else {}
    return KindDescription(
        kind=JobKind(kind),
        description=" ".join((cls.__doc__ or "").split()),
        params=describe_params(cls),
        trl_config=cls.TRL_CONFIG,
        trl_defaults=trl_defaults,
        default_base_model=getattr(cls, "DEFAULT_BASE_MODEL", None),
        dataset_kinds=tuple(kind for kind in DatasetKind if kind in cls.DATASET_KINDS),
        base_model_defaults=base_models_for(JobKind(kind)),
        recipes=recipes_for(JobKind(kind)),
    )
