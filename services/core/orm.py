"""ORM models (SQLAlchemy 2.0). The schema changes only through Alembic migrations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.core.enums import (
    JUDGEMENTS,
    AnnotatorRole,
    ApiKeyScope,
    Choice,
    DatasetKind,
    JobKind,
    JobStatus,
    ModelKind,
    PreferenceSource,
    Sampling,
    Side,
)

NAMING_CONVENTION = {
    "ix": "%(table_name)s_%(column_0_N_name)s_idx",
    "uq": "%(table_name)s_%(column_0_N_name)s_uq",
    "ck": "%(table_name)s_%(constraint_name)s_ck",
    "fk": "%(table_name)s_%(column_0_name)s_fk",
    "pk": "%(table_name)s_pk",
}

EMPTY_JSON = text("'{}'::jsonb")


def one_of(column: str, values: type[StrEnum] | tuple[StrEnum, ...]) -> str:
    """A CHECK constraint's condition: the column holds one of the enum's values. Its text can change with no
    migration while the values stay the same (tests/migrations/test_drift.py compares the values)."""
    return f"{column} IN ({', '.join(repr(str(value)) for value in values)})"


def subset_of(column: str, values: type[StrEnum]) -> str:
    """A CHECK constraint's condition: the array column holds only the enum's values."""
    listed = ", ".join(repr(str(value)) for value in values)
    return f"{column} <@ ARRAY[{listed}]::varchar[]"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Annotator(Base):
    __tablename__ = "annotator"
    __table_args__ = (  # one row per AI judge name (`ai:<model>`), however many jobs it runs in
        CheckConstraint(one_of("role", AnnotatorRole), name="role"),
        Index("annotator_ai_name_uq", "name", unique=True, postgresql_where=text("role = 'ai'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(
        String(20), default=AnnotatorRole.ANNOTATOR, server_default=AnnotatorRole.ANNOTATOR.value
    )
    # sha256 of the bearer token: tokens are 256-bit random, so a fast hash is enough and lookups stay O(1)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # A revoked token, or one past its expiry, is refused; the annotator and their votes stay.
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # True: every dataset (the default); false: only those in annotator_dataset.
    all_datasets: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = _now()


class ApiKey(Base):
    """A key for machines (CI jobs, clusters, workers) limited to its scopes; stored hashed like annotator
    tokens. A revoked key, or one past its expiry, is refused at once."""

    __tablename__ = "api_key"
    __table_args__ = (CheckConstraint(subset_of("scopes", ApiKeyScope), name="scopes"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()


class AnnotatorDataset(Base):
    """A dataset an annotator with all_datasets = false may work on."""

    __tablename__ = "annotator_dataset"

    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("annotator.id", ondelete="CASCADE"), primary_key=True
    )
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = _now()


class Dataset(Base):
    __tablename__ = "dataset"
    __table_args__ = (
        CheckConstraint("annotations_per_comparison BETWEEN 1 AND 100", name="annotations_per_comparison"),
        CheckConstraint("gold_rate BETWEEN 0 AND 1", name="gold_rate"),
        CheckConstraint(one_of("sampling", Sampling), name="sampling"),
        CheckConstraint(one_of("kind", DatasetKind), name="kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Preference datasets hold comparisons; the other kinds hold examples.
    kind: Mapped[str] = mapped_column(
        String(20), default=DatasetKind.PREFERENCE, server_default=DatasetKind.PREFERENCE.value
    )
    guidelines: Mapped[str] = mapped_column(Text, default="", server_default="")
    annotations_per_comparison: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The chance that `next` offers a gold item (one this annotator has not answered) rather than the queue's.
    gold_rate: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    sampling: Mapped[str] = mapped_column(
        String(20), default=Sampling.SEQUENTIAL, server_default=Sampling.SEQUENTIAL.value
    )
    reward: Mapped[str | None] = mapped_column(String(100))  # uncertainty sampling's reward; none: default
    created_at: Mapped[datetime] = _now()


class AnnotatorPause(Base):
    """An annotator paused on a dataset (gold accuracy too low: services/domain/gold.py), or no longer paused:
    `paused_at` is null once the admin lifted it, and gold answers count again from `lifted_at` on."""

    __tablename__ = "annotator_pause"

    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("annotator.id", ondelete="CASCADE"), primary_key=True
    )
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Prompt(Base):
    """A prompt, a text or a conversation, stored once however many comparisons or datasets use it.

    A conversation keeps its messages (`[{"role","content"}]`) and a plain-text rendering in `text`;
    `text_sha256` is the hash of its content key (services/domain/prompts.py).
    """

    __tablename__ = "prompt"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    # none_as_null: a text prompt's messages are SQL NULL, not JSON null (queries test IS NULL)
    messages: Mapped[list[dict[str, str]] | None] = mapped_column(JSONB(none_as_null=True))
    text_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _now()


def _open_index(name: str, *columns: str) -> Index:
    """An index of the ordinary (not gold) comparisons still open."""
    return Index(name, *columns, postgresql_where=text("NOT is_complete AND gold IS NULL"))


class Comparison(Base):
    __tablename__ = "comparison"
    __table_args__ = (
        # `next` scans only the ordinary open comparisons, by id (sequential), random key (random) or reward
        # margin (uncertainty): its cost does not grow with finished work.
        _open_index("comparison_open_dataset_id_id_idx", "dataset_id", "id"),
        _open_index("comparison_open_dataset_id_sample_key_id_idx", "dataset_id", "sample_key", "id"),
        _open_index("comparison_open_dataset_id_reward_margin_id_idx", "dataset_id", "reward_margin", "id"),
        Index(
            "comparison_gold_dataset_id_id_idx", "dataset_id", "id", postgresql_where=text("gold IS NOT NULL")
        ),
        CheckConstraint(one_of("gold", JUDGEMENTS), name="gold"),
        # An import's duplicate check looks pairs up by content (services/domain/comparisons.py): a probe per
        # pair, however many comparisons share the prompt.
        Index(
            "comparison_dataset_id_prompt_id_responses_idx",
            "dataset_id",
            "prompt_id",
            func.md5(text("response_a")),
            func.md5(text("response_b")),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), index=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id"), index=True)
    response_a: Mapped[str] = mapped_column(Text)
    response_b: Mapped[str] = mapped_column(Text)
    # A reference answer (for ROUGE-style rewards), when the data has one.
    reference: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, default=dict, server_default=EMPTY_JSON
    )
    # The versions behind each response (generate_comparisons); indexed for win rates and version deletes.
    source_a_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_version.id"), index=True)
    source_b_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_version.id"), index=True)
    # Counts of votes that fill a slot (a, b, tie); skips do not. Kept on the row so `next` stays cheap.
    vote_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    is_complete: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # A gold item's known answer (a, b or tie): it stands outside k and never completes.
    gold: Mapped[str | None] = mapped_column(String(4))
    # Random sampling's order (uniform in [0, 1), drawn by PostgreSQL when the row is stored).
    sample_key: Mapped[float] = mapped_column(Float, server_default=text("random()"))
    # Uncertainty sampling's order in [0, 1]: the margin's rank, or a random position for the random share
    # (services/domain/scores.py); infinity until scored, so that unscored ones follow, in id order.
    reward_margin: Mapped[float] = mapped_column(Float, server_default=text("'Infinity'::double precision"))
    created_at: Mapped[datetime] = _now()


class ComparisonScore(Base):
    """A reward model version's margin on a comparison, written by score_comparisons jobs."""

    __tablename__ = "comparison_score"

    comparison_id: Mapped[int] = mapped_column(
        ForeignKey("comparison.id", ondelete="CASCADE"), primary_key=True
    )
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_version.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    margin: Mapped[float] = mapped_column(Float)  # |r(x, y_a) - r(x, y_b)|
    created_at: Mapped[datetime] = _now()


class Example(Base):
    """A row of a prompt, demonstration or labelled dataset: a prompt (a labelled row's text) with its
    reference (prompt), completion (demonstration) or label (labelled)."""

    __tablename__ = "example"
    __table_args__ = (Index("example_dataset_id_prompt_id_idx", "dataset_id", "prompt_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"))
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id"), index=True)
    completion: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(Text)
    # A string, an integer or a boolean, as imported.
    label: Mapped[Any | None] = mapped_column(JSONB(none_as_null=True))
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, default=dict, server_default=EMPTY_JSON
    )
    created_at: Mapped[datetime] = _now()


class Lease(Base):
    """An annotator's claim on a comparison until `expires_at`; expired leases count for nothing.

    `next` renews a live lease, but never past `created_at` + the lease cap (RLHF_LEASE_MAX_SECONDS), so no
    annotator can hold a comparison forever (services/domain/annotation.py).
    """

    __tablename__ = "lease"
    __table_args__ = (UniqueConstraint("comparison_id", "annotator_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    comparison_id: Mapped[int] = mapped_column(ForeignKey("comparison.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotator.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When this hold began: set by each grant, kept by renewals. The start of the capped lease time, and the
    # vote's `leased_at`.
    created_at: Mapped[datetime] = _now()


class Preference(Base):
    __tablename__ = "preference"
    __table_args__ = (
        UniqueConstraint("comparison_id", "annotator_id"),
        UniqueConstraint("annotator_id", "idempotency_key"),
        CheckConstraint(one_of("choice", Choice), name="choice"),
        CheckConstraint("strength BETWEEN 1 AND 3", name="strength"),
        CheckConstraint(one_of("shown_left", Side), name="shown_left"),
        CheckConstraint("time_spent_ms >= 0", name="time_spent_ms"),
        CheckConstraint(one_of("source", PreferenceSource), name="source"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    comparison_id: Mapped[int] = mapped_column(ForeignKey("comparison.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotator.id"))
    choice: Mapped[str] = mapped_column(String(4))
    strength: Mapped[int | None] = mapped_column(SmallInteger)
    rationale: Mapped[str | None] = mapped_column(Text)
    time_spent_ms: Mapped[int | None] = mapped_column(BigInteger)
    # Which response the annotator saw on the left; A/B stays the stored identity.
    shown_left: Mapped[str | None] = mapped_column(String(1))
    # "Both bad": stored as a tie, flagged so that exports and stats can tell it apart.
    both_bad: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    leased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # human, or ai (an ai_feedback job's judge), with the job id and raw answers in metadata ({} for people's).
    source: Mapped[str] = mapped_column(String(10), server_default=PreferenceSource.HUMAN.value)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, default=dict, server_default=EMPTY_JSON
    )
    created_at: Mapped[datetime] = _now()


class ModelVersion(Base):
    __tablename__ = "model_version"
    __table_args__ = (
        CheckConstraint(one_of("kind", ModelKind), name="kind"),
        # At most one promoted version per kind.
        Index("model_version_promoted_kind_uq", "kind", unique=True, postgresql_where=text("promoted")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    base_model: Mapped[str] = mapped_column(String(500))
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("job.id", use_alter=True, name="model_version_job_id_fk", ondelete="SET NULL")
    )
    # Relative to RLHF_ARTIFACT_DIR, so the artifact volume can be mounted anywhere.
    path: Mapped[str] = mapped_column(String(1000))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON)
    data_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON)
    promoted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()


class Job(Base):
    __tablename__ = "job"
    __table_args__ = (
        CheckConstraint(one_of("kind", JobKind), name="kind"),
        CheckConstraint(one_of("status", JobStatus), name="status"),
        Index("job_status_idx", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("dataset.id", ondelete="SET NULL"))
    base_model: Mapped[str | None] = mapped_column(String(500))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON)
    # dataclasses.asdict() of the TRL config the job actually ran with.
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON)
    status: Mapped[str] = mapped_column(
        String(20), default=JobStatus.QUEUED, server_default=JobStatus.QUEUED.value
    )
    progress: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    eta_seconds: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON)
    error: Mapped[str | None] = mapped_column(Text)
    log_tail: Mapped[str] = mapped_column(Text, default="", server_default="")
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_version.id", ondelete="SET NULL"))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    worker: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = _now()
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Reward(Base):
    """One version of a named reward: a weighted combination of reward-model versions and reward functions
    (services/domain/rewards.py). Re-creating a name adds a version; a version never changes."""

    __tablename__ = "reward"
    __table_args__ = (UniqueConstraint("name", "version"), CheckConstraint("version >= 1", name="version"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    # [{"model_version_id", "weight", "whiten"?} | {"function", "weight", "whiten"?, ...options}]
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # {"safety", "helpfulness", "threshold"} (component indices), or none.
    safety_gate: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now()
