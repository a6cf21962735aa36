"""Bodies and answers of `POST /api/v1/models/prune` (services/domain/retention.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.core.enums import ModelKind
from services.core.inputs import StrictInput


class ModelsPrune(StrictInput):
    model_config = ConfigDict(extra="forbid")
    refuse_nul = True

    keep: int | None = Field(
        default=None,
        ge=0,
        le=2**31 - 1,
        description="unpromoted versions kept per kind and base model, newest first; unset: "
        "RLHF_KEEP_UNPROMOTED_VERSIONS",
    )
    kind: ModelKind | None = None
    base_model: str | None = Field(default=None, max_length=500)


class PrunedVersionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: ModelKind
    base_model: str
    reason: str | None = Field(description="why a version had to stay; null for a deleted one")


class ModelsPruned(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    deleted: list[PrunedVersionPublic]
    kept: list[PrunedVersionPublic] = Field(description="past the newest `keep`, but in use or named")
