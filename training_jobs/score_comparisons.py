"""score_comparisons: a reward model's margin on each open comparison of the dataset it has not scored yet,
|r(x, y_a) - r(x, y_b)|, stored per comparison and version (services/domain/scores.py); once all are scored,
they become the order in which uncertainty sampling serves the dataset (scores.rank). Batches are stored as
they are scored, so a cancelled job keeps what it finished and a new one carries on. No model version.

Params: ScoreComparisonsParams (services/domain/job_params/kinds.py).
"""

from __future__ import annotations

from services.core.db import session_scope
from services.domain import scores
from services.domain.job_params import ScoreComparisonsParams
from services.modeling.device import device
from training_jobs import checkpoints
from training_jobs.context import JobContext, JobInputError, JobResult
from training_jobs.reward_adapter import load_reward_scorer


def run(ctx: JobContext[ScoreComparisonsParams]) -> JobResult:
    if ctx.dataset_id is None:
        raise JobInputError("a score_comparisons job needs a dataset")
    params = ctx.params
    source = checkpoints.reward_source(None, params.reward_model_version_id)
    if not isinstance(source, checkpoints.ModelSource) or source.version_id is None:
        raise JobInputError(
            "score_comparisons scores with one reward model version and the default reward is a combination: "
            "pass params.reward_model_version_id"
        )
    scorer = load_reward_scorer(source)
    scorer.module.to(device())
    with session_scope() as session:
        total = scores.count_unscored(session, ctx.dataset_id, source.version_id)
    ctx.log(f"scoring {total} open comparisons of dataset {ctx.dataset_id} with {source.name}")
    done, after = 0, 0
    while True:
        with session_scope() as session:
            batch = scores.unscored(
                session, ctx.dataset_id, source.version_id, after=after, limit=params.batch_size
            )
        if not batch:
            break
        prompts = [item.prompt for item in batch]
        rewards = scorer(
            prompts * 2, [item.response_a for item in batch] + [item.response_b for item in batch]
        )
        margins = [
            (item.comparison_id, abs(reward_a - reward_b))
            for item, reward_a, reward_b in zip(
                batch, rewards[: len(batch)], rewards[len(batch) :], strict=True
            )
        ]
        with session_scope() as session:
            scores.store(session, source.version_id, margins)
        done += len(batch)
        after = batch[-1].comparison_id
        ctx.progress(min(1.0, done / max(total, 1)), scored=done)
        ctx.raise_if_cancelled()
    with session_scope() as session:
        scores.rank(session, ctx.dataset_id, source.version_id)
    ctx.log(f"scored {done} comparisons; the dataset's uncertainty order is {source.name}'s")
    return JobResult(
        model_kind=None, metrics={"scored": done, "reward_model": source.name}, base_model=source.name
    )
