from fastapi import APIRouter
from starlette.responses import Response

from services.inference.errors import ERROR_RESPONSES
from services.inference.reward_answers import scored_answer
from services.inference.reward_requests import resolve_spec, score_request
from services.inference.rewards import RewardInput
from services.inference.runtime import RuntimeDep
from services.inference.schemas import RewardRequest, RewardResponse

router = APIRouter(tags=["Reward"])


@router.post("/reward", response_model=RewardResponse, responses=ERROR_RESPONSES)
async def reward(body: RewardRequest, runtime: RuntimeDep) -> Response:
    """Rewards of 1 to 256 (prompt, response) inputs under the named reward (`reward`), else `default`: the
    promoted reward model's raw scores (no sigmoid), unless a reward named default was created since.

    A pair longer than a model's window is cut from the left of the prompt (its start goes first), keeping the
    response whole; only a response longer than the window alone loses its end. An input scores the same
    alone or in a batch; `model` names what scored the request (a version's name, or `NAME@vN`). The
    `Server-Timing` header splits the time: queue, tokenize, forward, encode.
    """
    spec = await resolve_spec(runtime, body.reward)
    inputs = [RewardInput(p.prompt, p.response, p.reference, p.safety_relevant) for p in body.inputs]
    scored = await runtime.score(score_request(runtime, spec, inputs, "inputs"))
    return scored_answer({"rewards": scored.rewards, "model": scored.model}, scored)
