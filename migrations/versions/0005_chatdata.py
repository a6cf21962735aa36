"""chat data: dataset kinds, conversational prompts, references, examples of non-preference datasets

Revision ID: 0005_chatdata
Revises: 0004_rewards
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_chatdata"
down_revision: str | None = "0004_rewards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out, not read from services/core/enums.py: history does not change (tests/migrations/test_drift.py
# compares these with the enum).
DATASET_KINDS = "kind IN ('preference', 'prompt', 'demonstration', 'labelled')"


def upgrade() -> None:
    op.add_column(
        "dataset", sa.Column("kind", sa.String(length=20), server_default="preference", nullable=False)
    )
    op.create_check_constraint(op.f("dataset_kind_ck"), "dataset", DATASET_KINDS)
    op.add_column("prompt", sa.Column("messages", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("comparison", sa.Column("reference", sa.Text(), nullable=True))
    op.create_index(
        "comparison_dataset_id_prompt_id_responses_idx",
        "comparison",
        ["dataset_id", "prompt_id", sa.text("md5(response_a)"), sa.text("md5(response_b)")],
        unique=False,
    )
    op.create_table(
        "example",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("dataset_id", sa.BigInteger(), nullable=False),
        sa.Column("prompt_id", sa.BigInteger(), nullable=False),
        sa.Column("completion", sa.Text(), nullable=True),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("label", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["dataset.id"], name=op.f("example_dataset_id_fk"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["prompt_id"], ["prompt.id"], name=op.f("example_prompt_id_fk")),
        sa.PrimaryKeyConstraint("id", name=op.f("example_pk")),
    )
    op.create_index("example_dataset_id_prompt_id_idx", "example", ["dataset_id", "prompt_id"], unique=False)
    op.create_index(op.f("example_prompt_id_idx"), "example", ["prompt_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("example_prompt_id_idx"), table_name="example")
    op.drop_index("example_dataset_id_prompt_id_idx", table_name="example")
    op.drop_table("example")
    op.drop_index("comparison_dataset_id_prompt_id_responses_idx", table_name="comparison")
    op.drop_column("comparison", "reference")
    op.drop_column("prompt", "messages")
    op.drop_constraint(op.f("dataset_kind_ck"), "dataset", type_="check")
    op.drop_column("dataset", "kind")
