from typing import Annotated

from fastapi import APIRouter, Query, status

from services.collector.deps import AdminDep, ReadOrTrainDep, SessionDep
from services.collector.reward_schemas import RewardCreate, RewardPublic, RewardsPublic
from services.domain import rewards, scores
from services.queue.broker import enqueue_job

router = APIRouter(tags=["rewards"])


@router.post("/rewards", status_code=status.HTTP_201_CREATED)
def create_reward(body: RewardCreate, session: SessionDep, _: AdminDep) -> RewardPublic:
    """A new version of the named reward (version 1 for a new name); the inference service scores with it
    at once (`POST /reward` with `"reward": name`; `default` serves requests that name none), and uncertainty
    datasets whose reward model it changes get a score_comparisons job."""
    reward = rewards.create(
        session,
        body.name,
        [component.stored() for component in body.components],
        body.safety_gate.model_dump() if body.safety_gate is not None else None,
    )
    scores.request_rescoring(session, enqueue=enqueue_job)
    return RewardPublic.model_validate(reward)


@router.get("/rewards")
def list_rewards(
    session: SessionDep,
    _: ReadOrTrainDep,
    name: Annotated[
        str | None, Query(max_length=rewards.NAME_MAX_LENGTH, pattern=rewards.NAME_PATTERN)
    ] = None,
) -> RewardsPublic:
    """Every version of every named reward (or of `name`), newest version first, and what serves by default."""
    rows = rewards.list_rewards(session, name=name)
    return RewardsPublic(
        data=[RewardPublic.model_validate(row) for row in rows],
        count=len(rows),
        default=rewards.resolve(session, None).label,
    )
