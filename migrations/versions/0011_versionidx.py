"""versionidx: indexes on the policy versions a comparison's responses came from

Win rates read the head-to-head comparisons (both sides from a policy version) of every dataset, and deleting
a model version checks that no comparison names it: both scanned the whole comparison table.

Revision ID: 0011_versionidx
Revises: 0010_classifier
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_versionidx"
down_revision: str | None = "0010_classifier"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("source_a_version_id", "source_b_version_id")


def upgrade() -> None:
    for column in COLUMNS:
        op.create_index(op.f(f"comparison_{column}_idx"), "comparison", [column])


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(op.f(f"comparison_{column}_idx"), table_name="comparison")
