"""The request and response models of the routes the operator console added (docs/console.md): dataset
settings, a page of comparisons, the import formats' examples, win rates over every dataset."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.collector.prompt_schemas import MessagePublic
from services.collector.quality_schemas import DatasetReward
from services.collector.schemas import MAX_ANNOTATIONS_PER_COMPARISON
from services.collector.stats_schemas import WinRatePublic
from services.core.enums import ImportFormat, Sampling
from services.core.inputs import StrictInput


class DatasetUpdate(StrictInput):
    """A dataset's settings to change; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field must not be silently ignored
    refuse_nul = True  # stored in PostgreSQL (services/core/inputs.py)

    guidelines: str | None = None
    annotations_per_comparison: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ANNOTATIONS_PER_COMPARISON,
        description="a new k re-decides which comparisons are complete",
    )
    gold_rate: float | None = Field(default=None, ge=0, le=1)
    sampling: Sampling | None = None
    reward: DatasetReward = None  # the named reward uncertainty sampling scores with; null: back to `default`


class ImportFormatPublic(BaseModel):
    format: ImportFormat  # the import route's `format`
    shape: str  # which rows of that format this example shows
    example: str  # one JSONL line


class ImportFormatsPublic(BaseModel):
    data: list[ImportFormatPublic]
    count: int


class ComparisonPublic(BaseModel):
    id: int
    prompt: str | list[MessagePublic] = Field(description="a text, or a conversation")
    response_a: str
    response_b: str
    gold: str | None = Field(description="a gold item's known answer; null: an ordinary comparison")
    vote_count: int = Field(description="slot-filling votes (a, b, tie)")
    complete: bool


class ComparisonsPublic(BaseModel):
    data: list[ComparisonPublic]
    count: int


class WinRatesPublic(BaseModel):
    data: list[WinRatePublic]
    count: int
