"""rloo: a policy tuned against a reward with TRL's RLOOTrainer (REINFORCE Leave-One-Out, Ahmadian et al.
2024): `num_generations` samples per prompt, each one's baseline the mean reward of the others, with a KL
penalty (beta) to the starting policy.

The reward, the prompts and the held-out evaluation are those training_jobs/group_rl.py describes (shared
with grpo).

Params: RlooParams (services/domain/job_params/kinds.py, with the kind's defaults) and RLOOConfig's fields.
"""

from __future__ import annotations

from services.domain.job_params import RlooParams
from training_jobs.context import JobContext, JobResult
from training_jobs.group_rl import run_group_trainer


def run(ctx: JobContext[RlooParams]) -> JobResult:
    from trl import RLOOConfig, RLOOTrainer

    return run_group_trainer(ctx, RLOOConfig, RLOOTrainer, steps_metric="rloo_steps")
