"""API keys with scopes, for both services

Revision ID: 0003_guards
Revises: 0002_annotator_access
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_guards"
down_revision: str | None = "0002_annotator_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.String(length=20)), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "scopes <@ ARRAY['infer', 'read', 'train', 'admin']::varchar[]", name=op.f("api_key_scopes_ck")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("api_key_pk")),
        sa.UniqueConstraint("key_hash", name=op.f("api_key_key_hash_uq")),
    )


def downgrade() -> None:
    op.drop_table("api_key")
