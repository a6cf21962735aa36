"""grpo: a policy tuned against a reward with TRL's GRPOTrainer (Group Relative Policy Optimization, Shao et al.
2024, "DeepSeekMath"): `num_generations` samples per prompt, each one's advantage its reward minus the group's
mean (divided by the group's std: `scale_rewards`), a clipped policy-gradient loss (`epsilon`) and a KL penalty
(`beta`) to the starting policy; no value model.

The reward (a reward-model version, a classifier, or a named reward with rule and metric functions), the
prompts and the held-out evaluation are those training_jobs/group_rl.py describes (shared with rloo).

Params: GrpoParams (services/domain/job_params/kinds.py, with the kind's defaults) and GRPOConfig's fields.
"""

from __future__ import annotations

from services.domain.job_params import GrpoParams
from training_jobs.context import JobContext, JobResult
from training_jobs.group_rl import run_group_trainer


def run(ctx: JobContext[GrpoParams]) -> JobResult:
    from trl import GRPOConfig, GRPOTrainer

    return run_group_trainer(ctx, GRPOConfig, GRPOTrainer, steps_metric="grpo_steps")
