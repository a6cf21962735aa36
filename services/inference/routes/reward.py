from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.core.enums import ModelKind
from services.inference.errors import ERROR_RESPONSES
from services.inference.runtime import RuntimeDep
from services.inference.schemas import MODEL_HEADER, RewardRequest, RewardResponse
from services.inference.validation import check_text_size

router = APIRouter(tags=["Reward"])


@router.post("/reward", response_model=RewardResponse, responses=ERROR_RESPONSES)
async def reward(body: RewardRequest, runtime: RuntimeDep) -> JSONResponse:
    """Raw scores (no sigmoid) of the promoted reward model for 1 to 256 (prompt, response) pairs.

    A pair longer than the model's window is cut from the left of the prompt (its start goes first),
    keeping the response whole; only a response longer than the window alone loses its end. A pair
    scores the same alone or in a batch; `model` names the version that scored the request.
    """
    runtime.serving(ModelKind.REWARD)  # 503 at once when there is none
    limit = runtime.settings.max_text_bytes
    for number, pair in enumerate(body.inputs):
        check_text_size(pair.prompt, f"inputs[{number}].prompt", limit)
        check_text_size(pair.response, f"inputs[{number}].response", limit)
    rewards, model = await runtime.score([(pair.prompt, pair.response) for pair in body.inputs])
    return JSONResponse({"rewards": rewards, "model": model}, headers={MODEL_HEADER: model})
