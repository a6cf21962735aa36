"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 13:21:38.041816
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "annotator",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), server_default="annotator", nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("role IN ('annotator', 'system')", name=op.f("annotator_role_ck")),
        sa.PrimaryKeyConstraint("id", name=op.f("annotator_pk")),
        sa.UniqueConstraint("token_hash", name=op.f("annotator_token_hash_uq")),
    )
    op.create_table(
        "dataset",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("guidelines", sa.Text(), server_default="", nullable=False),
        sa.Column("annotations_per_comparison", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "annotations_per_comparison BETWEEN 1 AND 100", name=op.f("dataset_annotations_per_comparison_ck")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("dataset_pk")),
        sa.UniqueConstraint("name", name=op.f("dataset_name_uq")),
    )
    op.create_table(
        "model_version",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("base_model", sa.String(length=500), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column(
            "metrics",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "data_snapshot",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("promoted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('policy', 'reward')", name=op.f("model_version_kind_ck")),
        sa.PrimaryKeyConstraint("id", name=op.f("model_version_pk")),
        sa.UniqueConstraint("name", name=op.f("model_version_name_uq")),
    )
    op.create_index(
        "model_version_promoted_kind_uq",
        "model_version",
        ["kind"],
        unique=True,
        postgresql_where=sa.text("promoted"),
    )
    op.create_table(
        "prompt",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("prompt_pk")),
        sa.UniqueConstraint("text_sha256", name=op.f("prompt_text_sha256_uq")),
    )
    op.create_table(
        "comparison",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("dataset_id", sa.BigInteger(), nullable=False),
        sa.Column("prompt_id", sa.BigInteger(), nullable=False),
        sa.Column("response_a", sa.Text(), nullable=False),
        sa.Column("response_b", sa.Text(), nullable=False),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("source_a_version_id", sa.BigInteger(), nullable=True),
        sa.Column("source_b_version_id", sa.BigInteger(), nullable=True),
        sa.Column("vote_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("is_complete", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["dataset.id"], name=op.f("comparison_dataset_id_fk"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["prompt_id"], ["prompt.id"], name=op.f("comparison_prompt_id_fk")),
        sa.ForeignKeyConstraint(
            ["source_a_version_id"], ["model_version.id"], name=op.f("comparison_source_a_version_id_fk")
        ),
        sa.ForeignKeyConstraint(
            ["source_b_version_id"], ["model_version.id"], name=op.f("comparison_source_b_version_id_fk")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("comparison_pk")),
    )
    op.create_index(op.f("comparison_dataset_id_idx"), "comparison", ["dataset_id"], unique=False)
    op.create_index(
        "comparison_open_dataset_id_id_idx",
        "comparison",
        ["dataset_id", "id"],
        unique=False,
        postgresql_where=sa.text("NOT is_complete"),
    )
    op.create_index(op.f("comparison_prompt_id_idx"), "comparison", ["prompt_id"], unique=False)
    op.create_table(
        "job",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("dataset_id", sa.BigInteger(), nullable=True),
        sa.Column("base_model", sa.String(length=500), nullable=True),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "config",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=20), server_default="queued", nullable=False),
        sa.Column("progress", sa.Float(), server_default="0", nullable=False),
        sa.Column("eta_seconds", sa.Float(), nullable=True),
        sa.Column(
            "metrics",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log_tail", sa.Text(), server_default="", nullable=False),
        sa.Column("model_version_id", sa.BigInteger(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('reward_model', 'ppo', 'sft', 'dpo', 'rloo', 'generate_comparisons')",
            name=op.f("job_kind_ck"),
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name=op.f("job_status_ck")
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["dataset.id"], name=op.f("job_dataset_id_fk"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("job_model_version_id_fk"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("job_pk")),
    )
    op.create_index("job_status_idx", "job", ["status"], unique=False)
    # model_version and job point at each other: this key can only come once both tables exist.
    op.create_foreign_key(
        "model_version_job_id_fk", "model_version", "job", ["job_id"], ["id"], ondelete="SET NULL"
    )
    op.create_table(
        "lease",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("comparison_id", sa.BigInteger(), nullable=False),
        sa.Column("annotator_id", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotator_id"], ["annotator.id"], name=op.f("lease_annotator_id_fk"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["comparison_id"], ["comparison.id"], name=op.f("lease_comparison_id_fk"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("lease_pk")),
        sa.UniqueConstraint(
            "comparison_id", "annotator_id", name=op.f("lease_comparison_id_annotator_id_uq")
        ),
    )
    op.create_index(op.f("lease_annotator_id_idx"), "lease", ["annotator_id"], unique=False)
    op.create_table(
        "preference",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("comparison_id", sa.BigInteger(), nullable=False),
        sa.Column("annotator_id", sa.BigInteger(), nullable=False),
        sa.Column("choice", sa.String(length=4), nullable=False),
        sa.Column("strength", sa.SmallInteger(), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("time_spent_ms", sa.BigInteger(), nullable=True),
        sa.Column("shown_left", sa.String(length=1), nullable=True),
        sa.Column("both_bad", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("leased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("choice IN ('a', 'b', 'tie', 'skip')", name=op.f("preference_choice_ck")),
        sa.CheckConstraint("shown_left IN ('a', 'b')", name=op.f("preference_shown_left_ck")),
        sa.CheckConstraint("strength BETWEEN 1 AND 3", name=op.f("preference_strength_ck")),
        sa.CheckConstraint("time_spent_ms >= 0", name=op.f("preference_time_spent_ms_ck")),
        sa.ForeignKeyConstraint(["annotator_id"], ["annotator.id"], name=op.f("preference_annotator_id_fk")),
        sa.ForeignKeyConstraint(
            ["comparison_id"], ["comparison.id"], name=op.f("preference_comparison_id_fk"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("preference_pk")),
        sa.UniqueConstraint(
            "annotator_id", "idempotency_key", name=op.f("preference_annotator_id_idempotency_key_uq")
        ),
        sa.UniqueConstraint(
            "comparison_id", "annotator_id", name=op.f("preference_comparison_id_annotator_id_uq")
        ),
    )

    # The built-in annotator that carries the known winners of imported data; it has no token.
    op.execute("INSERT INTO annotator (name, role) VALUES ('import', 'system')")


def downgrade() -> None:
    op.drop_table("preference")
    op.drop_index(op.f("lease_annotator_id_idx"), table_name="lease")
    op.drop_table("lease")
    op.drop_constraint("model_version_job_id_fk", "model_version", type_="foreignkey")
    op.drop_index("job_status_idx", table_name="job")
    op.drop_table("job")
    op.drop_index(op.f("comparison_prompt_id_idx"), table_name="comparison")
    op.drop_index(
        "comparison_open_dataset_id_id_idx",
        table_name="comparison",
        postgresql_where=sa.text("NOT is_complete"),
    )
    op.drop_index(op.f("comparison_dataset_id_idx"), table_name="comparison")
    op.drop_table("comparison")
    op.drop_table("prompt")
    op.drop_index(
        "model_version_promoted_kind_uq", table_name="model_version", postgresql_where=sa.text("promoted")
    )
    op.drop_table("model_version")
    op.drop_table("dataset")
    op.drop_table("annotator")
