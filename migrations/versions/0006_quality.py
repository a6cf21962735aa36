"""quality: gold items, annotator pauses, sampling order, reward-model scores of comparisons

Revision ID: 0006_quality
Revises: 0005_chatdata
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_quality"
down_revision: str | None = "0005_chatdata"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "NOT is_complete AND gold IS NULL"
JOB_KINDS = "'reward_model', 'ppo', 'sft', 'dpo', 'rloo', 'generate_comparisons'"


def upgrade() -> None:
    op.add_column("dataset", sa.Column("gold_rate", sa.Float(), server_default="0", nullable=False))
    op.add_column(
        "dataset", sa.Column("sampling", sa.String(length=20), server_default="sequential", nullable=False)
    )
    op.create_check_constraint(op.f("dataset_gold_rate_ck"), "dataset", "gold_rate BETWEEN 0 AND 1")
    op.create_check_constraint(
        op.f("dataset_sampling_ck"), "dataset", "sampling IN ('sequential', 'random', 'uncertainty')"
    )

    op.add_column("comparison", sa.Column("gold", sa.String(length=4), nullable=True))
    op.add_column(
        "comparison", sa.Column("sample_key", sa.Float(), server_default=sa.text("random()"), nullable=False)
    )
    op.add_column(
        "comparison",
        sa.Column(
            "reward_margin",
            sa.Float(),
            server_default=sa.text("'Infinity'::double precision"),
            nullable=False,
        ),
    )
    op.create_check_constraint(op.f("comparison_gold_ck"), "comparison", "gold IN ('a', 'b', 'tie')")
    op.drop_index("comparison_open_dataset_id_id_idx", table_name="comparison")
    op.create_index(
        "comparison_open_dataset_id_id_idx",
        "comparison",
        ["dataset_id", "id"],
        postgresql_where=sa.text(OPEN),
    )
    op.create_index(
        "comparison_open_dataset_id_sample_key_id_idx",
        "comparison",
        ["dataset_id", "sample_key", "id"],
        postgresql_where=sa.text(OPEN),
    )
    op.create_index(
        "comparison_open_dataset_id_reward_margin_id_idx",
        "comparison",
        ["dataset_id", "reward_margin", "id"],
        postgresql_where=sa.text(OPEN),
    )
    op.create_index(
        "comparison_gold_dataset_id_id_idx",
        "comparison",
        ["dataset_id", "id"],
        postgresql_where=sa.text("gold IS NOT NULL"),
    )

    op.create_table(
        "annotator_pause",
        sa.Column("annotator_id", sa.BigInteger(), nullable=False),
        sa.Column("dataset_id", sa.BigInteger(), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["annotator.id"],
            name=op.f("annotator_pause_annotator_id_fk"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["dataset.id"], name=op.f("annotator_pause_dataset_id_fk"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("annotator_id", "dataset_id", name=op.f("annotator_pause_pk")),
    )
    op.create_index(op.f("annotator_pause_dataset_id_idx"), "annotator_pause", ["dataset_id"], unique=False)

    op.create_table(
        "comparison_score",
        sa.Column("comparison_id", sa.BigInteger(), nullable=False),
        sa.Column("model_version_id", sa.BigInteger(), nullable=False),
        sa.Column("margin", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["comparison_id"],
            ["comparison.id"],
            name=op.f("comparison_score_comparison_id_fk"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("comparison_score_model_version_id_fk"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("comparison_id", "model_version_id", name=op.f("comparison_score_pk")),
    )
    op.create_index(
        op.f("comparison_score_model_version_id_idx"), "comparison_score", ["model_version_id"], unique=False
    )
    op.drop_constraint(op.f("job_kind_ck"), "job", type_="check")
    op.create_check_constraint(op.f("job_kind_ck"), "job", f"kind IN ({JOB_KINDS}, 'score_comparisons')")


def downgrade() -> None:
    op.execute("DELETE FROM job WHERE kind = 'score_comparisons'")
    op.drop_constraint(op.f("job_kind_ck"), "job", type_="check")
    op.create_check_constraint(op.f("job_kind_ck"), "job", f"kind IN ({JOB_KINDS})")
    op.drop_index(op.f("comparison_score_model_version_id_idx"), table_name="comparison_score")
    op.drop_table("comparison_score")
    op.drop_index(op.f("annotator_pause_dataset_id_idx"), table_name="annotator_pause")
    op.drop_table("annotator_pause")
    op.drop_index("comparison_gold_dataset_id_id_idx", table_name="comparison")
    op.drop_index("comparison_open_dataset_id_reward_margin_id_idx", table_name="comparison")
    op.drop_index("comparison_open_dataset_id_sample_key_id_idx", table_name="comparison")
    op.drop_index("comparison_open_dataset_id_id_idx", table_name="comparison")
    op.create_index(
        "comparison_open_dataset_id_id_idx",
        "comparison",
        ["dataset_id", "id"],
        postgresql_where=sa.text("NOT is_complete"),
    )
    op.drop_constraint(op.f("comparison_gold_ck"), "comparison", type_="check")
    op.drop_column("comparison", "reward_margin")
    op.drop_column("comparison", "sample_key")
    op.drop_column("comparison", "gold")
    op.drop_constraint(op.f("dataset_sampling_ck"), "dataset", type_="check")
    op.drop_constraint(op.f("dataset_gold_rate_ck"), "dataset", type_="check")
    op.drop_column("dataset", "sampling")
    op.drop_column("dataset", "gold_rate")
