"""named rewards: weighted combinations of reward-model versions and reward functions, versioned

Revision ID: 0004_rewards
Revises: 0003_guards
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_rewards"
down_revision: str | None = "0003_guards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reward",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("components", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("safety_gate", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("reward_version_ck")),
        sa.PrimaryKeyConstraint("id", name=op.f("reward_pk")),
        sa.UniqueConstraint("name", "version", name=op.f("reward_name_version_uq")),
    )


def downgrade() -> None:
    op.drop_table("reward")
