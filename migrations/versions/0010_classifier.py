"""classifier: the classifier job kind (a sequence classifier fine-tuned on a labelled dataset)

Revision ID: 0010_classifier
Revises: 0009_grpo
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_classifier"
down_revision: str | None = "0009_grpo"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_KINDS = (
    "'reward_model', 'ppo', 'sft', 'dpo', 'rloo', 'generate_comparisons', 'score_comparisons', 'ai_feedback', "
    "'grpo', 'rejection_sampling'"
)


def upgrade() -> None:
    op.drop_constraint(op.f("job_kind_ck"), "job", type_="check")
    op.create_check_constraint(op.f("job_kind_ck"), "job", f"kind IN ({JOB_KINDS}, 'classifier')")


def downgrade() -> None:
    op.execute("DELETE FROM job WHERE kind = 'classifier'")
    op.drop_constraint(op.f("job_kind_ck"), "job", type_="check")
    op.create_check_constraint(op.f("job_kind_ck"), "job", f"kind IN ({JOB_KINDS})")
