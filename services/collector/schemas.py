"""Request and response models at the collector's HTTP boundary, kept apart from the ORM models.

Ladder per resource: `XCreate` (input), `XPublic` (one), `XsPublic{data, count}` (many).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.collector.params import Id
from services.collector.prompt_schemas import MessagePublic, Prompt
from services.collector.quality_schemas import DatasetReward, Gold
from services.core.enums import (
    AnnotatorStatus,
    ApiKeyScope,
    Choice,
    DatasetKind,
    JobKind,
    JobStatus,
    ModelKind,
    Sampling,
    Side,
)
from services.core.inputs import MAX_ID, StrictInput
from services.domain.votes import MAX_IDEMPOTENCY_KEY


class _Input(StrictInput):
    # Unknown fields are refused: a typo such as "response_A" must not silently drop data.
    model_config = ConfigDict(extra="forbid")
    refuse_nul = True  # everything here is bound for PostgreSQL (services/core/inputs.py)


# --- Annotators -------------------------------------------------------------------------------------------


DatasetId = Annotated[int, Field(ge=1, le=MAX_ID)]
MAX_ASSIGNED_DATASETS = 10_000


class AnnotatorCreate(_Input):
    name: str = Field(min_length=1, max_length=200)
    expires_at: AwareDatetime | None = Field(
        default=None, description="when the token stops working (with a time zone); null: never"
    )
    datasets: list[DatasetId] | None = Field(
        default=None,
        max_length=MAX_ASSIGNED_DATASETS,
        description="ids of the datasets they may work on; omitted or null: every dataset",
    )


class AnnotatorTokenCreate(_Input):
    """A new token for an annotator (the old one stops working); `expires_at` replaces the expiry when given."""

    expires_at: AwareDatetime | None = Field(default=None, description="null: never; omitted: unchanged")


class AnnotatorDatasetsUpdate(_Input):
    datasets: list[DatasetId] | None = Field(
        max_length=MAX_ASSIGNED_DATASETS,
        description="ids of the datasets they may work on; null: every dataset",
    )


class AnnotatorPublic(BaseModel):
    id: int
    name: str
    status: AnnotatorStatus
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    all_datasets: bool  # true: every dataset; false: only `datasets`
    datasets: list[int]
    votes: int  # a, b or tie
    skips: int
    last_vote_at: datetime | None


class AnnotatorsPublic(BaseModel):
    data: list[AnnotatorPublic]
    count: int


class AnnotatorCreated(AnnotatorPublic):
    """The token is shown once, here; only its hash is stored."""

    token: str


# --- API keys ---------------------------------------------------------------------------------------------


class ApiKeyCreate(_Input):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[ApiKeyScope] = Field(
        min_length=1,
        max_length=len(ApiKeyScope),
        description="infer: the inference service; read: the collector's GET routes and exports; "
        "train: jobs and model versions; admin: everything",
    )
    expires_at: AwareDatetime | None = Field(default=None, description="with a time zone; null: never")


class ApiKeyPublic(BaseModel):
    id: int
    name: str
    scopes: list[ApiKeyScope]
    status: AnnotatorStatus
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeysPublic(BaseModel):
    data: list[ApiKeyPublic]
    count: int


class ApiKeyCreated(ApiKeyPublic):
    """The key is shown once, here; only its hash is stored."""

    key: str


# --- Datasets ---------------------------------------------------------------------------------------------

MAX_ANNOTATIONS_PER_COMPARISON = 100


class DatasetCreate(_Input):
    name: str = Field(min_length=1, max_length=200)
    kind: DatasetKind = Field(
        default=DatasetKind.PREFERENCE,
        description="preference (comparisons to judge), prompt, demonstration or labelled (imported rows)",
    )
    guidelines: str = ""
    annotations_per_comparison: int = Field(default=1, ge=1, le=MAX_ANNOTATIONS_PER_COMPARISON)
    gold_rate: float = Field(default=0.0, ge=0, le=1, description="chance that `next` offers a gold item")
    sampling: Sampling = Field(default=Sampling.SEQUENTIAL, description="the order `next` hands items out")
    reward: DatasetReward = None


class DatasetPublic(BaseModel):
    id: int
    name: str
    kind: DatasetKind
    guidelines: str
    annotations_per_comparison: int
    gold_rate: float
    sampling: Sampling  # as configured
    sampling_state: str  # what `next` does now, e.g. uncertainty falling back to sequential, and why
    reward: str | None  # the named reward uncertainty sampling scores with; null: `default`
    created_at: datetime
    gold: int  # gold items: outside the counts below
    comparisons: int  # in the dataset
    complete: int  # with annotations_per_comparison slot-filling votes
    remaining: int  # comparisons - complete
    votes: int  # slot-filling votes (a, b, tie; "both bad" is a tie)
    skips: int
    votes_needed: int  # slot-filling votes still missing before every comparison is complete
    examples: int  # rows of a prompt, demonstration or labelled dataset


class DatasetsPublic(BaseModel):
    data: list[DatasetPublic]
    count: int


# --- Comparisons ------------------------------------------------------------------------------------------


class ComparisonCreate(_Input):
    prompt: Prompt
    response_a: str
    response_b: str
    reference: str | None = Field(default=None, description="a reference answer (ROUGE-style rewards)")
    metadata: dict[str, Any] = Field(default_factory=dict)
    gold: Gold | None = Field(default=None, description="a gold item's known answer")


class ComparisonsCreate(_Input):
    items: list[ComparisonCreate]


class ComparisonsCreated(BaseModel):
    ids: list[int]


class ImportResultPublic(BaseModel):
    dataset_id: int
    kind: DatasetKind  # the dataset's
    comparisons: int
    preferences: int
    examples: int = Field(description="rows stored in a prompt, demonstration or labelled dataset")
    skipped: int = Field(description="rows left out as duplicates of stored ones (dedupe=true)")


# --- Annotation (annotator token) -------------------------------------------------------------------------


class MeDataset(BaseModel):
    id: int
    name: str
    guidelines: str
    annotations_per_comparison: int
    done_by_me: int  # my preferences in it, skips included
    remaining: int  # open comparisons I have not judged yet


class MePublic(BaseModel):
    id: int
    name: str
    datasets: list[MeDataset]


class AssignmentPublic(BaseModel):
    comparison_id: int
    prompt: str | list[MessagePublic] = Field(description="a text, or a conversation")
    response_a: str
    response_b: str
    lease_expires_at: datetime


class PreferenceCreate(_Input):
    choice: Choice
    strength: int | None = Field(
        default=None, ge=1, le=3, description="a or b only: 1 slightly ... 3 much better"
    )
    rationale: str | None = None
    time_spent_ms: int | None = Field(default=None, ge=0, lt=MAX_ID + 1)
    shown_left: Side | None = Field(default=None, description="which response was on the left")
    both_bad: bool = Field(default=False, description="with choice 'tie' only")


class PreferencePublic(BaseModel):
    id: int
    comparison_id: int
    annotator_id: int
    choice: str
    strength: int | None
    rationale: str | None
    time_spent_ms: int | None
    shown_left: str | None
    both_bad: bool
    idempotency_key: str | None
    leased_at: datetime | None
    created_at: datetime


# The parts of a request the annotator's plain routes read, validated together
# (services/collector/plain_routes.py).


class DatasetPath(BaseModel):
    dataset_id: Id


class ComparisonPath(BaseModel):
    comparison_id: Id


class VoteHeaders(BaseModel):
    idempotency_key: Annotated[
        str | None,
        Field(
            alias="idempotency-key",
            max_length=MAX_IDEMPOTENCY_KEY,
            description="a retry with the same key returns the first answer and stores nothing more",
        ),
    ] = None


class NextInputs(BaseModel):
    path: DatasetPath


class VoteInputs(BaseModel):
    path: ComparisonPath
    header: VoteHeaders
    body: PreferenceCreate


# --- Jobs and model versions (training) -------------------------------------------------------------------


class JobCreate(_Input):
    kind: JobKind
    dataset_id: int = Field(ge=1, le=MAX_ID)
    base_model: str | None = Field(default=None, min_length=1, max_length=500)
    # The kind's own params and its TRL config's fields (GET /api/v1/job-kinds; services/domain/job_params).
    params: dict[str, Any] = Field(default_factory=dict)


class JobQueued(BaseModel):
    id: int
    status: str


class JobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    status: JobStatus
    progress: float  # 0..1
    metrics: dict[str, Any]  # live while running; the final metrics once succeeded
    error: str | None  # readable reason when failed
    model_version_id: int | None
    eta_seconds: float | None
    log_tail: str
    dataset_id: int | None
    base_model: str | None
    params: dict[str, Any]
    # The resolved params: the kind's own and the TRL config's fields (all of them once a worker built it),
    # with `param_sources`: where each came from (explicit, recipe, base_model, kind, platform, trl), and
    # `defaults_base_model`: whose per-base-model defaults were looked up.
    config: dict[str, Any]
    cancel_requested: bool
    worker: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int


class ModelVersionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str  # "<kind>-<id>", e.g. "reward-7": what the inference service answers as "model"
    kind: ModelKind
    base_model: str
    job_id: int | None
    path: str  # relative to RLHF_ARTIFACT_DIR
    metrics: dict[str, Any]
    params: dict[str, Any]
    data_snapshot: dict[str, Any]
    promoted: bool
    promoted_at: datetime | None
    created_at: datetime


class ModelVersionsPublic(BaseModel):
    data: list[ModelVersionPublic]
    count: int


class JobParamPublic(BaseModel):
    name: str
    types: list[str] = Field(
        description="JSON kinds the value may have: int, float, str, bool, list, dict, null"
    )
    default: Any
    help: str
    bounds: dict[str, float] = Field(description="ge, gt (lower), le, lt (upper), where bounded")
    choices: list[Any] = Field(description="the values allowed, when only a few are")
    fields: list[JobParamPublic] = Field(description="an object's own parameters (lora)")


class JobKindPublic(BaseModel):
    kind: JobKind
    description: str
    params: list[JobParamPublic] = Field(description="the kind's own parameters")
    trl_config: str | None = Field(description="TRL config whose fields params also take, by their TRL names")
    trl_defaults: dict[str, Any] = Field(description="what the platform and the kind set in that config")
    default_base_model: str | None
    dataset_kinds: list[DatasetKind] = Field(description="the kinds of dataset the job reads")
    base_model_defaults: dict[str, dict[str, Any]] = Field(
        description="params by base model name, over the kind's defaults (explicit params and recipes win)"
    )
    recipes: dict[str, dict[str, Any]] = Field(description="named bundles of params: params.recipe")


class JobKindsPublic(BaseModel):
    data: list[JobKindPublic]
    count: int
