"""The collector's gold items and its answers about annotator quality on a dataset (docs/quality.md); the rest
of its request and response models are in schemas.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.core.inputs import StrictInput
from services.domain import rewards

# A gold item's answer: a real judgement (services/core/enums.JUDGEMENTS), never a skip.
Gold = Literal["a", "b", "tie"]
# The named reward a dataset's uncertainty sampling scores with; null: `default`.
DatasetReward = Annotated[str | None, Field(max_length=rewards.NAME_MAX_LENGTH, pattern=rewards.NAME_PATTERN)]


class GoldUpdate(StrictInput):
    model_config = ConfigDict(extra="forbid")
    refuse_nul = True  # stored in PostgreSQL (services/core/inputs.py)

    gold: Gold | None = Field(description="the known answer; null: an ordinary comparison again")


class GoldPublic(BaseModel):
    comparison_id: int
    gold: str | None


class AnnotatorQualityPublic(BaseModel):
    """One annotator's work on a dataset as the admin sees it (docs/quality.md)."""

    annotator_id: int
    name: str
    votes: int = Field(description="a, b or tie, gold answers included")
    skips: int
    gold_answered: int
    gold_correct: int
    gold_accuracy: float | None
    gold_ci95_low: float | None = Field(description="Wilson score interval")
    gold_ci95_high: float | None
    majority_shared: int = Field(description="votes on items where the others' votes have a strict majority")
    majority_agreed: int
    majority_agreement: float | None
    median_ms: float | None = Field(description="server-side time per judgement, lease to vote")
    p10_ms: float | None
    sided_votes: int = Field(description="a/b votes whose left side is known")
    left_share: float | None = Field(description="share of those choosing the response shown on the left")
    trust: float = Field(description="(2 G + A) / 3 x (1 - B), in [0, 1]")
    paused: bool
    pause_reason: str | None
    paused_at: datetime | None
    fast: bool = Field(description="median time far below the dataset's: flagged, not paused")


class AnnotatorQualitiesPublic(BaseModel):
    data: list[AnnotatorQualityPublic]
    count: int
