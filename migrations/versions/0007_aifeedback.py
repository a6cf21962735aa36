"""aifeedback: preferences carry their source (human or ai) and metadata; AI judges are annotators of role
ai, one per name; the ai_feedback job kind

Revision ID: 0007_aifeedback
Revises: 0006_quality
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_aifeedback"
down_revision: str | None = "0006_quality"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_KINDS = "'reward_model', 'ppo', 'sft', 'dpo', 'rloo', 'generate_comparisons', 'score_comparisons'"


def upgrade() -> None:
    op.add_column(
        "preference", sa.Column("source", sa.String(length=10), server_default="human", nullable=False)
    )
    op.add_column(
        "preference",
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.create_check_constraint(op.f("preference_source_ck"), "preference", "source IN ('human', 'ai')")
    op.drop_constraint(op.f("annotator_role_ck"), "annotator", type_="check")
    op.create_check_constraint(
        op.f("annotator_role_ck"), "annotator", "role IN ('annotator', 'system', 'ai')"
    )
    op.create_index(
        "annotator_ai_name_uq", "annotator", ["name"], unique=True, postgresql_where=sa.text("role = 'ai'")
    )
    op.drop_constraint(op.f("job_kind_ck"), "job", type_="check")
    op.create_check_constraint(op.f("job_kind_ck"), "job", f"kind IN ({JOB_KINDS}, 'ai_feedback')")


def downgrade() -> None:
    op.execute("DELETE FROM job WHERE kind = 'ai_feedback'")
    op.drop_constraint(op.f("job_kind_ck"), "job", type_="check")
    op.create_check_constraint(op.f("job_kind_ck"), "job", f"kind IN ({JOB_KINDS})")
    op.execute("DELETE FROM preference WHERE source = 'ai'")
    op.execute("DELETE FROM annotator WHERE role = 'ai'")
    op.drop_index("annotator_ai_name_uq", table_name="annotator")
    op.drop_constraint(op.f("annotator_role_ck"), "annotator", type_="check")
    op.create_check_constraint(op.f("annotator_role_ck"), "annotator", "role IN ('annotator', 'system')")
    op.drop_constraint(op.f("preference_source_ck"), "preference", type_="check")
    op.drop_column("preference", "metadata")
    op.drop_column("preference", "source")
