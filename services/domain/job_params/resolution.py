"""The one pass that checks a job's `params` and resolves them, without importing torch, transformers or TRL:
the collector runs it before queueing (its errors are the API's 422s), the worker runs it again to hand the
job module a typed object.

A name in `params` is one of the kind's own parameters (kinds.py: type and bounds checked here), a field of
the kind's TRL config by its TRL name (checked against trl_fields.py, a table generated from the installed TRL:
JSON kinds only, since value ranges and choices are TRL's to judge, in the worker), or an error.

Values resolve in layers, the strongest first: explicit params > the recipe named by `params.recipe` > the
defaults for the job's base model (presets.py) > the kind's defaults > the platform's (the schedule here; the
device and where outputs go, on the worker) > TRL's own. Each resolved value records its layer (ParamSource).
A recipe or a base model's entry is checked by the same pass as explicit params.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from services.core.enums import JobKind, ParamSource
from services.core.errors import InvalidInputError
from services.domain.job_params.fields import BOUNDS, JobParams, Params
from services.domain.job_params.json_kinds import describe, kind_of_value, kinds_of, value_fits
from services.domain.job_params.kinds import PARAMS_BY_KIND, RESERVED_FIELDS, SCHEDULE_DEFAULTS
from services.domain.job_params.presets import base_model_values, recipe_names, recipe_values
from services.domain.job_params.trl_fields import TRAINING_ARGUMENTS, TRL_CONFIG_FIELDS

SOURCES_KEY = "param_sources"
DEFAULTS_KEY = "defaults_base_model"  # job.config: whose per-base-model defaults were looked up
P = TypeVar("P", bound=JobParams)


@dataclass(frozen=True)
class ResolvedParams(Generic[P]):
    """A job's parameters after the pass: its kind's typed own parameters, the TRL config values the platform
    sets (the kind's defaults, the schedule, the explicit ones), and where each value came from."""

    kind: JobKind
    own: P
    trl: dict[str, Any]
    sources: dict[str, ParamSource]
    base_model: str | None = None  # the name per-base-model defaults were looked up by

    def record(
        self, trl_config: Mapping[str, Any] | None = None, *, platform: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """What job.config shows: every resolved value and `param_sources`. Given the TRL config the job built
        (its dataclasses.asdict), all its fields: those in `platform` as the platform's (the worker sets them:
        device, outputs), those nobody set as TRL's own defaults."""
        values: dict[str, Any] = {**self.trl, **(trl_config or {}), **dataclasses.asdict(self.own)}
        sources = {name: self.sources.get(name, ParamSource.TRL) for name in values}
        sources |= dict.fromkeys(platform & set(values), ParamSource.PLATFORM)
        recorded = {name: str(source) for name, source in sources.items()}
        return {**values, SOURCES_KEY: recorded, DEFAULTS_KEY: self.base_model}


def params_class(kind: JobKind | str) -> type[JobParams]:
    return PARAMS_BY_KIND[JobKind(kind)]


def settable_trl_fields(kind: JobKind | str) -> dict[str, tuple[str, ...]]:
    """TRL config fields settable through params for a job kind (empty for kinds without a TRL config)."""
    config = params_class(kind).TRL_CONFIG
    if config is None:
        return {}
    fields = {**TRAINING_ARGUMENTS, **TRL_CONFIG_FIELDS[config]}
    return {name: kinds for name, kinds in fields.items() if name not in RESERVED_FIELDS}


def resolve(
    kind: JobKind | str, params: Mapping[str, Any], *, base_model: str | None = None
) -> ResolvedParams[JobParams]:
    """Check `params` for a job kind and resolve them over the recipe they name and the defaults for
    `base_model` (the model the job starts from: services/domain/job_start.defaults_base_model); InvalidInputError
    names the first refused param."""
    kind = JobKind(kind)
    cls = params_class(kind)
    recipe = params.get("recipe")
    if recipe is not None and recipe not in recipe_names(kind):
        known = ", ".join(recipe_names(kind)) or "none"
        raise InvalidInputError(
            f"params.recipe must name a recipe of {kind} (known: {known}), got {recipe!r}"
        )
    merged: dict[str, Any] = {}
    chosen: dict[str, ParamSource] = {}
    for layer, source in (
        (base_model_values(kind, base_model), ParamSource.BASE_MODEL),
        (recipe_values(kind, recipe) if recipe is not None else {}, ParamSource.RECIPE),
        (params, ParamSource.EXPLICIT),
    ):
        for name in layer:  # a stronger layer's choice drops a weaker layer's alternative (lora vs trainable)
            for other in cls.ALTERNATIVES.get(name, ()):
                merged.pop(other, None)
                chosen.pop(other, None)
        merged.update(copy.deepcopy(dict(layer)))  # nested values too: the worker's trainer may change them
        chosen.update(dict.fromkeys(layer, source))
    own_values, given_trl = _split(kind, merged)
    own = _build(cls, own_values, prefix="params.", kind=kind)

    own_fields = {field.name for field in dataclasses.fields(cls)}
    sources = {name: chosen.get(name, ParamSource.KIND) for name in own_fields}
    trl: dict[str, Any] = {}
    if cls.TRL_CONFIG is not None:
        for values, source in (
            (SCHEDULE_DEFAULTS, ParamSource.PLATFORM),
            (cls.TRL_DEFAULTS, ParamSource.KIND),
        ):
            trl.update(copy.deepcopy(dict(values)))
            sources.update(dict.fromkeys(values, source))
        trl.update(given_trl)
        sources.update({name: chosen[name] for name in given_trl})
    return ResolvedParams(kind=kind, own=own, trl=trl, sources=sources, base_model=base_model)


def _split(kind: JobKind, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the kind's own params, TRL config fields), each name checked: a known own param, a settable TRL field
    of a fitting JSON kind, or an error."""
    cls = params_class(kind)
    own_fields = {field.name for field in dataclasses.fields(cls)}
    settable = settable_trl_fields(kind)
    own: dict[str, Any] = {}
    trl: dict[str, Any] = {}
    for name, value in values.items():
        if name in own_fields:
            own[name] = value
        elif name in settable:
            if not value_fits(settable[name], value):
                raise _wrong_kind(f"params.{name}", settable[name], value, kind)
            trl[name] = value
        elif name in RESERVED_FIELDS:
            raise InvalidInputError(f"params.{name} is set by the platform and cannot be given")
        else:
            where = f"TRL's {cls.TRL_CONFIG}" if cls.TRL_CONFIG else "this job kind"
            raise InvalidInputError(f"unknown parameter params.{name} for {kind} (not a field of {where})")
    return own, trl


def _build(cls: type[Params], values: Mapping[str, Any], *, prefix: str, kind: JobKind) -> Any:
    """An instance of a params dataclass from JSON values, each checked for type and bounds."""
    hints = typing.get_type_hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls)}
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name not in fields:  # only nested objects get here with unknown keys
            raise InvalidInputError(f"unknown key {prefix}{name} (known: {', '.join(fields)})")
        checked[name] = _value(
            hints[name], value, metadata=fields[name].metadata, where=f"{prefix}{name}", kind=kind
        )
    instance = cls(**checked)
    problem = instance.check()
    if problem is not None:
        raise InvalidInputError(problem)
    return instance


def _value(annotation: Any, value: Any, *, metadata: Mapping[str, Any], where: str, kind: JobKind) -> Any:
    kinds = kinds_of(annotation)
    if not value_fits(kinds, value):
        raise _wrong_kind(where, kinds, value, kind)
    nested = nested_params(annotation)
    if nested is not None and isinstance(value, dict):
        return _build(nested, value, prefix=f"{where}.", kind=kind)
    choices = choices_of(annotation)
    if choices and value not in choices:
        raise InvalidInputError(f"{where} must be one of {', '.join(map(str, choices))}, got {value!r}")
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation(value)
    if isinstance(value, list) and not all(isinstance(item, str) for item in value):
        raise InvalidInputError(f"{where} must be a list of strings")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "float" in kinds:
            value = float(value)
        _check_bounds(where, value, metadata)
    return value


def choices_of(annotation: Any) -> tuple[Any, ...]:
    """The values a Literal or an enumeration (services/core/enums.py) allows; () for other types."""
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return tuple(member.value for member in annotation)
    return ()


def nested_params(annotation: Any) -> type[Params] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Params):
            return candidate
    return None


def _check_bounds(where: str, value: float, metadata: Mapping[str, Any]) -> None:
    tests = {"ge": value >= metadata.get("ge", -math.inf), "gt": value > metadata.get("gt", -math.inf)}
    tests |= {"le": value <= metadata.get("le", math.inf), "lt": value < metadata.get("lt", math.inf)}
    if not all(tests.values()) or not math.isfinite(value):
        symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
        wanted = " and ".join(f"{symbols[bound]} {metadata[bound]}" for bound in BOUNDS if bound in metadata)
        raise InvalidInputError(f"{where} must be {wanted or 'a finite number'}, got {value!r}")


def _wrong_kind(where: str, kinds: tuple[str, ...], value: Any, kind: JobKind) -> InvalidInputError:
    return InvalidInputError(
        f"{where} must be {describe(kinds)} for {kind}, got {kind_of_value(value)} {value!r}"
    )
