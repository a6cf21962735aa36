"""grpo and rejection_sampling job kinds

Revision ID: 0009_grpo
Revises: 0008_quality2
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_grpo"
down_revision: str | None = "0008_quality2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_KINDS = (
    "'reward_model', 'ppo', 'sft', 'dpo', 'rloo', 'generate_comparisons', 'score_comparisons', 'ai_feedback'"
)
NEW_KINDS = "'grpo', 'rejection_sampling'"


def upgrade() -> None:
    op.drop_constraint(op.f("job_kind_ck"), "job", type_="check")
    op.create_check_constraint(op.f("job_kind_ck"), "job", f"kind IN ({JOB_KINDS}, {NEW_KINDS})")


def downgrade() -> None:
    op.execute(f"DELETE FROM job WHERE kind IN ({NEW_KINDS})")
    op.drop_constraint(op.f("job_kind_ck"), "job", type_="check")
    op.create_check_constraint(op.f("job_kind_ck"), "job", f"kind IN ({JOB_KINDS})")
