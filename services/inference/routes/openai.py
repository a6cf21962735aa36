"""OpenAI's API beside TGI's: /v1/chat/completions, /v1/completions and /v1/models, so that the official
`openai` client and the tools built on it work unchanged. Requests share the micro-batches of /generate;
errors answer in OpenAI's shape (services/inference/errors.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from services.inference import openai_responses
from services.inference.errors import ModelNotFoundError
from services.inference.loading import LoadedModel
from services.inference.openai_requests import Plan, chat_plan, completion_plan, model_cards, served_policy
from services.inference.openai_responses import Answer
from services.inference.openai_schemas import (
    OPENAI_ERROR_RESPONSES,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Completion,
    CompletionRequest,
    ModelCard,
    ModelList,
)
from services.inference.prompts import prepare_input
from services.inference.runtime import Runtime, RuntimeDep
from services.inference.schemas import MODEL_HEADER

router = APIRouter(tags=["OpenAI"])


@router.get("/v1/models", response_model=ModelList)
def list_models(runtime: RuntimeDep) -> dict[str, Any]:
    """The serving policy, under its version name and under the alias `policy`."""
    return {"object": "list", "data": model_cards(runtime)}


@router.get("/v1/models/{model_id:path}", response_model=ModelCard, responses=OPENAI_ERROR_RESPONSES)
def retrieve_model(model_id: str, runtime: RuntimeDep) -> dict[str, Any]:
    """One model of /v1/models; 404 for any other."""
    for card in model_cards(runtime):
        if card["id"] == model_id:
            return card
    raise ModelNotFoundError(f"The model `{model_id}` does not exist or is not served here")


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {"model": ChatCompletionChunk, "content": {"text/event-stream": {}}},
        **OPENAI_ERROR_RESPONSES,
    },
)
async def chat_completions(body: ChatCompletionRequest, runtime: RuntimeDep) -> Any:
    """Answer a conversation through the model's chat template (OpenAI's chat completions; a stream of
    chunks with `stream: true`). `model` is the serving version's name or `policy`."""
    policy, required = served_policy(runtime, body.model)
    settings = runtime.settings
    plan = chat_plan(
        body, max_new_tokens_cap=settings.max_new_tokens_cap, max_text_bytes=settings.max_text_bytes
    )
    return await _answer(runtime, policy, required, plan, chat=True)


@router.post(
    "/v1/completions",
    response_model=Completion,
    responses={200: {"model": Completion, "content": {"text/event-stream": {}}}, **OPENAI_ERROR_RESPONSES},
)
async def completions(body: CompletionRequest, runtime: RuntimeDep) -> Any:
    """Continue a text, or each of a list of texts (OpenAI's legacy completions; a stream with
    `stream: true`). No chat template is applied."""
    policy, required = served_policy(runtime, body.model)
    settings = runtime.settings
    plan = completion_plan(
        body, max_new_tokens_cap=settings.max_new_tokens_cap, max_text_bytes=settings.max_text_bytes
    )
    return await _answer(runtime, policy, required, plan, chat=False)


async def _answer(
    runtime: Runtime, policy: LoadedModel, required: str | None, plan: Plan, *, chat: bool
) -> JSONResponse | StreamingResponse:
    # The chat template and the window rules, with the model serving now; the batcher checks again with
    # the one it uses.
    for prompt in plan.prompts:
        prepare_input(policy, prompt, plan.params)
    requests = plan.requests(required)
    if plan.stream:
        stream = await runtime.stream(requests)
        answer = Answer.new(chat=chat, model=stream.model)
        return StreamingResponse(
            openai_responses.stream_events(stream, plan, answer),
            media_type="text/event-stream",
            headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache", MODEL_HEADER: stream.model},
        )
    results = await runtime.generate(requests)
    answer = Answer.new(chat=chat, model=results[0].model)
    shape = openai_responses.chat_completion if chat else openai_responses.completion
    return JSONResponse(shape(answer, plan, results), headers={MODEL_HEADER: answer.model})
