"""Request and response models of named rewards (`/api/v1/rewards`) and of registering a reward checkpoint
(`POST /api/v1/models`, both kinds). What the components mean: services/modeling/combined_reward.py and
services/modeling/reward_functions.py."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.core.enums import ModelKind, RewardFunction, ScoreInput, ScoreTransform
from services.core.inputs import MAX_ID, StrictInput
from services.domain import rewards

MAX_COMPONENTS = 16
# What each function takes besides function, weight and whiten: {option: (types, required)}.
FUNCTION_OPTIONS: dict[RewardFunction, dict[str, tuple[tuple[type, ...], bool]]] = {
    RewardFunction.LENGTH: {"target": ((int,), True), "unit": ((str,), False)},
    RewardFunction.REGEX: {"pattern": ((str,), True), "full": ((bool,), False)},
}


class _Input(StrictInput):
    # Refused: NaN, infinities, lone surrogates and NUL in any field, function options included.
    refuse_nul = True


class Whitening(_Input):
    """Statistics frozen with the reward: the component's score becomes (score − mean) / std."""

    model_config = ConfigDict(extra="forbid")

    mean: float
    std: float = Field(gt=0)


class RewardComponentCreate(_Input):
    """`{"model_version_id", "weight"}` or `{"function", "weight", ...its options}`, each with `whiten`."""

    # Function options are the other keys (`target`, `pattern`, ...), checked below.
    model_config = ConfigDict(extra="allow")

    model_version_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    function: RewardFunction | None = None
    weight: float = 1.0
    whiten: Whitening | None = None

    @model_validator(mode="after")
    def _one_source_and_its_options(self) -> RewardComponentCreate:
        if (self.model_version_id is None) == (self.function is None):
            raise ValueError("give either model_version_id or function")
        options = dict(self.model_extra or {})
        allowed = FUNCTION_OPTIONS.get(self.function, {}) if self.function is not None else {}
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ValueError(f"unknown keys {unknown} for {self.function or 'a model component'}")
        for option, (types, required) in allowed.items():
            if option not in options:
                if required:
                    raise ValueError(f"the {self.function} function needs {option!r}")
                continue
            value = options[option]
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                raise ValueError(f"{option} must be a {types[0].__name__}")
        if self.function == RewardFunction.LENGTH:
            if options["target"] < 1:
                raise ValueError("target must be at least 1")
            if options.get("unit", "words") not in ("words", "chars"):
                raise ValueError("unit must be 'words' or 'chars'")
        if self.function == RewardFunction.REGEX:
            try:
                re.compile(options["pattern"])
            except re.error as error:
                raise ValueError(f"pattern does not compile: {error}") from error
        return self

    def stored(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class SafetyGateCreate(_Input):
    """Llama 2's gate: the `safety` component's score where it is below `threshold` (or the input is marked
    `safety_relevant`), the `helpfulness` component's elsewhere; both are indices into `components`."""

    model_config = ConfigDict(extra="forbid")

    safety: int = Field(ge=0)
    helpfulness: int = Field(ge=0)
    threshold: float


class RewardCreate(_Input):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=rewards.NAME_MAX_LENGTH, pattern=rewards.NAME_PATTERN)
    components: list[RewardComponentCreate] = Field(min_length=1, max_length=MAX_COMPONENTS)
    safety_gate: SafetyGateCreate | None = None

    @model_validator(mode="after")
    def _gate_points_at_components(self) -> RewardCreate:
        gate = self.safety_gate
        if gate is not None:
            if max(gate.safety, gate.helpfulness) >= len(self.components):
                raise ValueError("safety_gate: safety and helpfulness are indices into components")
            if gate.safety == gate.helpfulness:
                raise ValueError("safety_gate: safety and helpfulness must be different components")
        return self


class RewardPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    version: int
    components: list[dict[str, Any]]
    safety_gate: dict[str, Any] | None
    created_at: datetime


class RewardsPublic(BaseModel):
    data: list[RewardPublic]
    count: int
    default: str | None = Field(
        description="what serves /reward when no reward is named (as its answers' `model` says): the latest "
        "version of the reward named default, or the promoted reward model when that was promoted later"
    )


REWARD_ONLY = ("label", "transform", "input")


class ModelRegister(_Input):
    """A checkpoint trained elsewhere registered as a version: a sequence classifier as a reward version, or a
    causal LM (or a LoRA adapter with its base) as a policy version."""

    model_config = ConfigDict(extra="forbid")

    kind: ModelKind
    source: str = Field(
        min_length=1,
        max_length=1000,
        description="a model folder on the server, or a hub id in the server's Hugging Face cache",
    )
    label: str | int = Field(default=0, description="reward: the label scored, its id2label name or index")
    transform: ScoreTransform = ScoreTransform.LOGIT
    input: ScoreInput = ScoreInput.PROMPT_RESPONSE
    base_model: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="policy, LoRA adapter folders: the base it was trained on (a folder, a cached hub id or a "
        "built-in; default: the adapter's base_model_name_or_path)",
    )

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> ModelRegister:
        if self.kind == ModelKind.POLICY:
            given = sorted(set(REWARD_ONLY) & self.model_fields_set)
            if given:
                raise ValueError(f"{', '.join(given)}: only for kind reward (what a classifier scores)")
        elif self.base_model is not None:
            raise ValueError("base_model: only for kind policy (a LoRA adapter's base)")
        return self
