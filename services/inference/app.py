"""The inference service: TGI-compatible /generate, /generate_stream and /, /reward, /info, /health, /metrics.

`uvicorn services.inference.app:app`. Settings are read, and models loaded, at startup (the lifespan),
not at import.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import torch
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from services.core.enums import ModelKind
from services.core.http_metrics import RequestMetricsMiddleware, metrics_response
from services.core.settings import Settings, get_settings
from services.inference.batching import MicroBatcher, settle
from services.inference.errors import (
    GenerationError,
    InferenceError,
    ModelUnavailableError,
    ScoringError,
    ValidationError,
    install_error_handlers,
)
from services.inference.generation import (
    GenerationJob,
    GenerationResult,
    TokenInfo,
    generate_batch,
    prepare_input,
)
from services.inference.loading import LoadedModel, ModelRegistry
from services.inference.rewards import score_pairs
from services.inference.schemas import (
    MAX_REWARD_PAIRS,
    CompatGenerateRequest,
    ErrorResponse,
    GenerateRequest,
    GenerateResponse,
    RewardRequest,
    RewardResponse,
    StreamResponse,
)
from services.inference.validation import MAX_BEST_OF, MAX_STOP_SEQUENCES, SamplingParams, validate_parameters

VERSION = "0.1.0"
# Which version computed an answer (also in the /reward body); TGI's bodies have no field for it.
MODEL_HEADER = "x-model-version"

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "Input validation error (error_type `validation`)"},
    424: {"model": ErrorResponse, "description": "The model failed on this request"},
    429: {"model": ErrorResponse, "description": "Queue full (error_type `overloaded`): retry later"},
    503: {
        "model": ErrorResponse,
        "description": "No model of this kind is loaded (error_type `unavailable`)",
    },
}


@dataclass
class Runtime:
    settings: Settings
    registry: ModelRegistry
    reward_batcher: MicroBatcher[list[tuple[str, str]]]
    generate_batcher: MicroBatcher[GenerationJob]


def torch_threads(settings: Settings) -> int:
    """Intra-op threads for the models: one CPU is left to the event loop and tokenization.

    Taking every CPU makes each forward pass wait at its thread barriers whenever the event loop (or
    another process) holds a core: on 2 shared cores a tiny forward pass measured 141 ms with 2 threads
    against 2.8 ms with 1.
    """
    if settings.inference_torch_threads is not None:
        return settings.inference_torch_threads
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cpus - 1)


def _score_batch(
    registry: ModelRegistry, settings: Settings, batch: list[list[tuple[str, str]]]
) -> list[Any]:
    reward = registry.serving(ModelKind.REWARD)  # one reference for the whole batch: the version that answers
    if reward is None:
        return [ModelUnavailableError(_no_model_message(registry, ModelKind.REWARD))] * len(batch)
    scores = score_pairs(
        reward,
        [pair for request in batch for pair in request],
        batch_size=settings.reward_max_batch_size,
        max_tokens=settings.reward_max_batch_tokens,
    )
    outcomes: list[Any] = []
    offset = 0
    for request in batch:
        outcomes.append((scores[offset : offset + len(request)], reward.name))
        offset += len(request)
    return outcomes


def _generate_batch(registry: ModelRegistry, jobs: list[GenerationJob]) -> list[Any]:
    policy = registry.serving(ModelKind.POLICY)
    if policy is None:
        return [ModelUnavailableError(_no_model_message(registry, ModelKind.POLICY))] * len(jobs)
    return generate_batch(policy, jobs)


def _no_model_message(registry: ModelRegistry, kind: ModelKind) -> str:
    loading = registry.loading(kind)
    if loading is not None:
        return f"the {kind} model {loading.name} is still loading; retry shortly"
    failure = registry.failure(kind)
    if failure is not None:
        return f"the {kind} model {failure.target.name} failed to load: {failure.error}"
    if kind == ModelKind.REWARD:
        return (
            "no reward model is promoted yet: train one (`rlhf train reward_model --dataset NAME`) "
            "and promote it (`rlhf models promote ID`)"
        )
    return "no policy model is loaded: check RLHF_POLICY_MODEL or promote a policy version"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    torch.set_num_threads(torch_threads(settings))
    registry = ModelRegistry(policy_model=settings.policy_model, poll_seconds=settings.model_poll_seconds)
    await asyncio.to_thread(registry.start)
    reward_batcher: MicroBatcher[list[tuple[str, str]]] = MicroBatcher(
        "reward",
        lambda batch: _score_batch(registry, settings, batch),
        max_batch_size=settings.reward_max_batch_size,
        max_wait_s=settings.reward_max_wait_ms / 1000,
        max_queue_size=settings.max_queue_size,
        on_error=lambda exc: ScoringError(f"{type(exc).__name__}: {exc}"),
    )
    generate_batcher: MicroBatcher[GenerationJob] = MicroBatcher(
        "generate",
        lambda jobs: _generate_batch(registry, jobs),
        max_batch_size=settings.generate_max_batch_size,
        max_wait_s=settings.generate_max_wait_ms / 1000,
        max_queue_size=settings.max_queue_size,
        on_error=lambda exc: GenerationError(f"{type(exc).__name__}: {exc}"),
    )
    reward_batcher.start()
    generate_batcher.start()
    app.state.runtime = Runtime(settings, registry, reward_batcher, generate_batcher)
    try:
        yield
    finally:
        reward_batcher.stop()
        generate_batcher.stop()
        registry.stop()


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _check_text_size(text: str, what: str, limit: int) -> None:
    size = len(text.encode())
    if size > limit:
        raise ValidationError(f"{what} is {size} bytes; the limit is {limit}")


def _serving_policy(runtime: Runtime) -> LoadedModel:
    policy = runtime.registry.serving(ModelKind.POLICY)
    if policy is None:
        raise ModelUnavailableError(_no_model_message(runtime.registry, ModelKind.POLICY))
    return policy


def _validated(runtime: Runtime, body: GenerateRequest, *, stream: bool) -> SamplingParams:
    params = validate_parameters(
        body.inputs, body.parameters, max_new_tokens_cap=runtime.settings.max_new_tokens_cap, stream=stream
    )
    _check_text_size(body.inputs, "`inputs`", runtime.settings.max_text_bytes)
    # The window rules, with the tokenizer serving now; the worker checks again with the one it uses.
    prepare_input(_serving_policy(runtime), body.inputs, params)
    return params


def _token_json(token: TokenInfo) -> dict[str, Any]:
    return {"id": token.id, "text": token.text, "logprob": token.logprob, "special": token.special}


def _output_text(body: GenerateRequest, result: GenerationResult) -> str:
    return body.inputs + result.generated_text if body.parameters.return_full_text else result.generated_text


def _generate_json(body: GenerateRequest, params: SamplingParams, result: GenerationResult) -> dict[str, Any]:
    answer: dict[str, Any] = {"generated_text": _output_text(body, result)}
    if body.parameters.details or params.decoder_input_details:
        details: dict[str, Any] = {
            "finish_reason": result.finish_reason,
            "generated_tokens": len(result.tokens),
            "seed": result.seed,
            "prefill": [{"id": t.id, "text": t.text, "logprob": t.logprob} for t in result.prefill],
            "tokens": [_token_json(token) for token in result.tokens],
        }
        if params.top_n_tokens:
            details["top_tokens"] = [[_token_json(t) for t in token.top_tokens] for token in result.tokens]
        answer["details"] = details
    return answer


async def _generate(runtime: Runtime, body: GenerateRequest) -> tuple[dict[str, Any], str]:
    params = _validated(runtime, body, stream=False)
    loop = asyncio.get_running_loop()
    submitted: list[asyncio.Future[Any]] = []

    def on_token(token: TokenInfo, result: GenerationResult | None) -> None:
        # Answer when this row finishes, not when the longest row of its batch does.
        if result is not None and submitted:
            loop.call_soon_threadsafe(settle, submitted[0], result)

    job = GenerationJob(body.inputs, params, on_token)
    submitted.append(runtime.generate_batcher.submit(job))
    try:
        # A client that goes away cancels the future: dropped if still queued, else its row stops.
        result: GenerationResult = await submitted[0]
    except asyncio.CancelledError:
        job.cancelled = True
        raise
    return _generate_json(body, params, result), result.model


_END = object()


def _sse(payload: dict[str, Any]) -> bytes:
    return f"data:{json.dumps(payload, separators=(',', ':'))}\n\n".encode()


async def _generate_stream(runtime: Runtime, body: GenerateRequest) -> StreamingResponse:
    params = _validated(runtime, body, stream=True)
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[Any] = asyncio.Queue()

    def on_token(token: TokenInfo, result: GenerationResult | None) -> None:
        loop.call_soon_threadsafe(events.put_nowait, (token, result))

    job = GenerationJob(body.inputs, params, on_token)
    future = runtime.generate_batcher.submit(job)
    future.add_done_callback(lambda _: events.put_nowait(_END))
    try:
        # Wait for the first token before answering: a request that fails before it gets its HTTP error
        # code (TGI would send it as an event), and the header can name the version that generates.
        first = await events.get()
    except asyncio.CancelledError:
        job.cancelled = True
        future.cancel()  # still queued: the batcher drops it
        raise
    if first is _END:
        await future  # raises the request's error
        raise GenerationError("generation ended without a token")
    assert job.model is not None  # set by the worker before its first token

    async def stream() -> AsyncIterator[bytes]:
        index = 0
        item = first
        try:
            while item is not _END:
                token, result = item
                index += 1
                event: dict[str, Any] = {"index": index, "token": _token_json(token)}
                if params.top_n_tokens:
                    event["top_tokens"] = [_token_json(t) for t in token.top_tokens]
                event["generated_text"] = _output_text(body, result) if result is not None else None
                event["details"] = None
                if result is not None and body.parameters.details:
                    event["details"] = {
                        "finish_reason": result.finish_reason,
                        "generated_tokens": len(result.tokens),
                        "seed": result.seed,
                        "input_length": result.input_length,
                    }
                yield _sse(event)
                item = await events.get()
            error = future.exception()
            if error is not None:
                # Once the stream has started, an error is an event (TGI's InferError → Event).
                failure = error if isinstance(error, InferenceError) else GenerationError(str(error))
                yield _sse({"error": failure.message, "error_type": failure.error_type})
        finally:
            job.cancelled = True  # no-op when finished; stops the row when the client went away

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache", MODEL_HEADER: job.model},
    )


def create_app() -> FastAPI:
    app = FastAPI(
        title="RLHF inference",
        version=VERSION,
        lifespan=lifespan,
        description="Serves the promoted policy (text-generation-inference's API) and reward model.",
    )
    app.add_middleware(RequestMetricsMiddleware, service="inference")
    install_error_handlers(app)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        """Liveness."""
        return {"status": "ok"}

    @app.get("/info", tags=["Text Generation Inference"])
    def info(runtime: RuntimeDep) -> dict[str, Any]:
        """TGI's /info fields for the serving policy, plus the loaded policy and reward versions."""
        settings = runtime.settings
        policy = runtime.registry.serving(ModelKind.POLICY)
        window = policy.window if policy is not None else None
        return {
            "model_id": policy.name if policy is not None else None,
            "model_sha": None,
            "model_dtype": str(next(policy.model.parameters()).dtype) if policy is not None else None,
            "model_device_type": policy.device.type if policy is not None else None,
            "model_pipeline_tag": "text-generation",
            "max_concurrent_requests": settings.max_queue_size,
            "max_best_of": MAX_BEST_OF,
            "max_stop_sequences": MAX_STOP_SEQUENCES,
            "max_input_tokens": window - 1 if window is not None else None,
            "max_total_tokens": window,
            "max_new_tokens": settings.max_new_tokens_cap,
            "max_client_batch_size": MAX_REWARD_PAIRS,
            "router": "rlhf-platform inference",
            "version": VERSION,
            "sha": None,
            "docker_label": None,
            **runtime.registry.describe(),
            "batching": {
                "reward": {
                    "max_batch_size": settings.reward_max_batch_size,
                    "max_batch_tokens": settings.reward_max_batch_tokens,
                    "max_wait_ms": settings.reward_max_wait_ms,
                    "queued": runtime.reward_batcher.queued_units,
                },
                "generate": {
                    "max_batch_size": settings.generate_max_batch_size,
                    "max_wait_ms": settings.generate_max_wait_ms,
                    "queued": runtime.generate_batcher.queued_units,
                },
                "max_queue_size": settings.max_queue_size,
            },
        }

    @app.post(
        "/generate",
        tags=["Text Generation Inference"],
        response_model=GenerateResponse,
        responses=ERROR_RESPONSES,
    )
    async def generate(body: GenerateRequest, runtime: RuntimeDep) -> JSONResponse:
        """Generate text from the serving policy (TGI's /generate: same body, answer and error codes)."""
        answer, model = await _generate(runtime, body)
        return JSONResponse(answer, headers={MODEL_HEADER: model})

    @app.post(
        "/generate_stream",
        tags=["Text Generation Inference"],
        responses={200: {"model": StreamResponse, "content": {"text/event-stream": {}}}, **ERROR_RESPONSES},
    )
    async def generate_stream(body: GenerateRequest, runtime: RuntimeDep) -> StreamingResponse:
        """Generate text as Server-Sent Events of TGI StreamResponse objects; the last has generated_text."""
        return await _generate_stream(runtime, body)

    @app.post("/", tags=["Text Generation Inference"], responses=ERROR_RESPONSES)
    async def compat_generate(body: CompatGenerateRequest, runtime: RuntimeDep) -> Any:
        """TGI's compatibility route (what `huggingface_hub.InferenceClient` calls): a one-element list,
        or a stream when `stream` is true."""
        if body.stream:
            return await _generate_stream(runtime, body)
        answer, model = await _generate(runtime, body)
        return JSONResponse([answer], headers={MODEL_HEADER: model})

    @app.post("/reward", tags=["Reward"], response_model=RewardResponse, responses=ERROR_RESPONSES)
    async def reward(body: RewardRequest, runtime: RuntimeDep) -> JSONResponse:
        """Raw scores (no sigmoid) of the promoted reward model for 1 to 256 (prompt, response) pairs.

        A pair longer than the model's window is cut from the left of the prompt (its start goes first),
        keeping the response whole; only a response longer than the window alone loses its end. A pair
        scores the same alone or in a batch; `model` names the version that scored the request.
        """
        if runtime.registry.serving(ModelKind.REWARD) is None:
            raise ModelUnavailableError(_no_model_message(runtime.registry, ModelKind.REWARD))
        limit = runtime.settings.max_text_bytes
        for number, pair in enumerate(body.inputs):
            _check_text_size(pair.prompt, f"inputs[{number}].prompt", limit)
            _check_text_size(pair.response, f"inputs[{number}].response", limit)
        pairs = [(pair.prompt, pair.response) for pair in body.inputs]
        rewards, model = await runtime.reward_batcher.submit(pairs, units=len(pairs))
        return JSONResponse({"rewards": rewards, "model": model}, headers={MODEL_HEADER: model})

    app.add_route("/metrics", metrics_response, include_in_schema=False)
    return app


app = create_app()
