"""text-generation-inference's generation routes: /generate, /generate_stream and its compatibility route `/`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from services.core.enums import ModelKind
from services.inference import tgi
from services.inference.best_of import generate_best_of
from services.inference.errors import ERROR_RESPONSES
from services.inference.generation import GenerationRequest
from services.inference.prompts import prepare_input
from services.inference.runtime import Runtime, RuntimeDep
from services.inference.schemas import (
    MODEL_HEADER,
    CompatGenerateRequest,
    GenerateRequest,
    GenerateResponse,
    StreamResponse,
)
from services.inference.validation import SamplingParams, check_text_size, validate_parameters

router = APIRouter(tags=["Text Generation Inference"])


def _validated(runtime: Runtime, body: GenerateRequest, *, stream: bool) -> SamplingParams:
    params = validate_parameters(
        body.inputs,
        body.parameters,
        max_new_tokens_cap=runtime.settings.max_new_tokens_cap,
        stream=stream,
        max_best_of=runtime.settings.max_best_of,
    )
    check_text_size(body.inputs, "`inputs`", runtime.settings.max_text_bytes)
    # The window rules, with the tokenizer serving now; the batcher checks again with the one it uses.
    prepare_input(runtime.serving(ModelKind.POLICY), body.inputs, params)
    return params


async def _generate(runtime: Runtime, body: GenerateRequest) -> tuple[dict[str, Any], str]:
    params = _validated(runtime, body, stream=False)
    if params.best_of > 1:
        return await generate_best_of(runtime, body, params)
    (result,) = await runtime.generate([GenerationRequest(body.inputs, params)])
    return tgi.generate_json(body, params, result), result.model


async def _generate_stream(runtime: Runtime, body: GenerateRequest) -> StreamingResponse:
    params = _validated(runtime, body, stream=True)
    stream = await runtime.stream([GenerationRequest(body.inputs, params)])

    async def events() -> AsyncIterator[bytes]:
        index = 0
        try:
            async for _, token, result in stream.tokens():
                index += 1
                yield tgi.sse(tgi.stream_event(body, params, index, token, result))
            error = stream.error()
            if error is not None:
                yield tgi.sse(tgi.error_event(error))
        finally:
            stream.close()  # stops the row when the client went away

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache", MODEL_HEADER: stream.model},
    )


@router.post("/generate", response_model=GenerateResponse, responses=ERROR_RESPONSES)
async def generate(body: GenerateRequest, runtime: RuntimeDep) -> JSONResponse:
    """Generate text from the serving policy (TGI's /generate: same body, answer and error codes)."""
    answer, model = await _generate(runtime, body)
    return JSONResponse(answer, headers={MODEL_HEADER: model})


@router.post(
    "/generate_stream",
    responses={200: {"model": StreamResponse, "content": {"text/event-stream": {}}}, **ERROR_RESPONSES},
)
async def generate_stream(body: GenerateRequest, runtime: RuntimeDep) -> StreamingResponse:
    """Generate text as Server-Sent Events of TGI StreamResponse objects; the last has generated_text."""
    return await _generate_stream(runtime, body)


@router.post("/", responses=ERROR_RESPONSES)
async def compat_generate(body: CompatGenerateRequest, runtime: RuntimeDep) -> Any:
    """TGI's compatibility route (what `huggingface_hub.InferenceClient` calls): a one-element list,
    or a stream when `stream` is true."""
    if body.stream:
        return await _generate_stream(runtime, body)
    answer, model = await _generate(runtime, body)
    return JSONResponse([answer], headers={MODEL_HEADER: model})
