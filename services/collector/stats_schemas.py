"""The collector's answer to GET /api/v1/datasets/{id}/stats (services/domain/stats.py): counts, per-annotator
work, agreement, policy win rates, and each AI judge's agreement with people (services/domain/ai_agreement.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.core.enums import SourceFilter


class ChoiceCounts(BaseModel):
    a: int
    b: int
    tie: int  # ties that are not "both bad"
    both_bad: int
    skip: int


class AnnotatorStats(BaseModel):
    annotator_id: int
    name: str
    votes: int  # a, b, tie
    skips: int
    median_time_spent_ms: float | None


class AgreementPublic(BaseModel):
    comparisons: int = Field(description="comparisons with at least two non-skip votes")
    pairs: int = Field(description="pairs of votes on the same comparison")
    percent_agreement: float | None = Field(description="agreeing pairs / pairs")
    krippendorff_alpha: float | None = Field(description="nominal over a/b/tie; null when undefined")


class WinRatePublic(BaseModel):
    version_a: int
    version_b: int
    wins_a: int
    wins_b: int
    ties: int
    win_rate_a: float = Field(description="(wins_a + ties / 2) / votes")
    ci95_low: float
    ci95_high: float
    interval: str = Field(description="how the 95% interval is computed: wilson (score interval)")


class AiAgreementPublic(BaseModel):
    annotator_id: int
    name: str = Field(description="the AI judge, ai:<model>")
    comparisons: int = Field(
        description="comparisons this judge judged that people decided (plurality label)"
    )
    agreed: int
    agreement: float | None = Field(description="agreed / comparisons")
    agreement_ci95: list[float] | None = Field(description="Wilson 95% interval of agreement")
    cohen_kappa: float | None = Field(description="Cohen's kappa over a/b/tie; null when undefined")
    ai_ties: int = Field(description="the judge's ties (its verdicts in the two orders disagreed)")


class StatsPublic(BaseModel):
    dataset_id: int
    comparisons: int
    complete: int
    votes: int
    skips: int
    choices: ChoiceCounts
    annotators: list[AnnotatorStats]
    votes_per_comparison: dict[str, int] = Field(description="slot-filling votes -> number of comparisons")
    agreement: AgreementPublic
    win_rates: list[WinRatePublic]
    source: SourceFilter = Field(description="whose votes choices, annotators, agreement and win_rates count")
    ai_agreement: list[AiAgreementPublic] = Field(
        description="each AI judge's agreement with people on the comparisons both judged"
    )
