"""quality2: the reward a dataset's uncertainty sampling scores with

Revision ID: 0008_quality2
Revises: 0007_aifeedback
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_quality2"
down_revision: str | None = "0007_aifeedback"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dataset", sa.Column("reward", sa.String(length=100), nullable=True))


def downgrade() -> None:
    op.drop_column("dataset", "reward")
