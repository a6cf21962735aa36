from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from services.domain import rewards
from services.inference.errors import ERROR_RESPONSES, ValidationError
from services.inference.openrlhf import GetRewardRequest, split_query
from services.inference.reward_answers import scored_answer
from services.inference.reward_requests import resolve_spec, score_request
from services.inference.rewards import RewardInput
from services.inference.runtime import RuntimeDep

router = APIRouter(tags=["Reward"])


@router.post("/get_reward", responses=ERROR_RESPONSES)
async def get_reward(
    body: GetRewardRequest,
    runtime: RuntimeDep,
    reward: Annotated[
        str | None, Query(max_length=rewards.NAME_MAX_LENGTH, pattern=rewards.NAME_PATTERN)
    ] = None,
) -> Response:
    """OpenRLHF's remote reward model (`--remote_rm_url`): `{"query", "prompts", "labels"?}` →
    `{"rewards", "scores", "extra_logs"}`, scored as `POST /reward` scores (`?reward=NAME`, else `default`),
    each query split at its prompt (services/inference/openrlhf.py), labels as references."""
    sizes = {"prompts": len(body.prompts), "labels": len(body.labels) if body.labels is not None else None}
    for field, size in sizes.items():
        if size is not None and size != len(body.query):
            raise ValidationError(f"{field} has {size} items; query has {len(body.query)}")
    spec = await resolve_spec(runtime, reward)
    splits = [split_query(query, prompt) for query, prompt in zip(body.query, body.prompts, strict=True)]
    labels = body.labels or [None] * len(splits)
    inputs = [RewardInput(s.prompt, s.response, label) for s, label in zip(splits, labels, strict=True)]
    scored = await runtime.score(score_request(runtime, spec, inputs, "query"))
    extra_logs = {"prompt_split": [s.how for s in splits]}
    return scored_answer(
        {
            "rewards": scored.rewards,
            "scores": scored.rewards,
            "extra_logs": extra_logs,
            "model": scored.model,
        },
        scored,
    )
