"""annotator access: revocation, expiry, dataset assignment

Revision ID: 0002_annotator_access
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_annotator_access"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("annotator", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("annotator", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "annotator", sa.Column("all_datasets", sa.Boolean(), server_default=sa.text("true"), nullable=False)
    )
    # `active` said the same as `revoked_at IS NULL`: keep one of them.
    op.execute("UPDATE annotator SET revoked_at = now() WHERE NOT active")
    op.drop_column("annotator", "active")
    op.create_table(
        "annotator_dataset",
        sa.Column("annotator_id", sa.BigInteger(), nullable=False),
        sa.Column("dataset_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["annotator.id"],
            name=op.f("annotator_dataset_annotator_id_fk"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["dataset.id"], name=op.f("annotator_dataset_dataset_id_fk"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("annotator_id", "dataset_id", name=op.f("annotator_dataset_pk")),
    )
    op.create_index(
        op.f("annotator_dataset_dataset_id_idx"), "annotator_dataset", ["dataset_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("annotator_dataset_dataset_id_idx"), table_name="annotator_dataset")
    op.drop_table("annotator_dataset")
    op.add_column(
        "annotator", sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False)
    )
    op.execute("UPDATE annotator SET active = false WHERE revoked_at IS NOT NULL")
    op.drop_column("annotator", "all_datasets")
    op.drop_column("annotator", "expires_at")
    op.drop_column("annotator", "revoked_at")
