"""What serves requests: the model registry (loading, hot reload), the two micro-batchers and the lifespan that
starts and stops them. Routes reach it as `RuntimeDep`; whatever the wire format (TGI's, OpenAI's), they ask it
to generate (`generate`, `stream`) or to score (`score`).
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import torch
from fastapi import Depends, FastAPI, Request
from psycopg_pool import AsyncConnectionPool

from services.core.db import async_pool
from services.core.enums import ModelKind
from services.core.settings import Settings, get_settings
from services.inference.batching import MicroBatcher, settle
from services.inference.errors import GenerationError, ModelUnavailableError, ScoringError
from services.inference.generation import GenerationRequest, GenerationResult, TokenInfo, generate_batch
from services.inference.loading import LoadedModel, ModelRegistry
from services.inference.rewards import (
    BatchTiming,
    ComponentModels,
    ScoreRequest,
    no_reward_message,
    score_batch,
)


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


class _Ended:
    """The marker that closes a stream's events: its request group has its outcome."""


_END = _Ended()


class TokenStream:
    """The tokens of a group of requests (one answer's choices) as they are generated, on the batcher's
    thread, for a streaming route.

    The caller iterates `tokens()` and must `close()` when it stops (a client that went away), which stops
    the group's rows at the next step."""

    def __init__(
        self, requests: list[GenerationRequest], future: asyncio.Future[Any], events: asyncio.Queue[Any]
    ) -> None:
        self.requests = requests
        self.future = future
        self.events = events
        self.first: Any = None

    @property
    def model(self) -> str:
        """The version that generates (known once the first token came; the group shares one batch)."""
        model = self.requests[0].model
        assert model is not None
        return model

    async def tokens(self) -> AsyncIterator[tuple[int, TokenInfo, GenerationResult | None]]:
        """(request index, token, result): `result` is set on that request's last token."""
        item = self.first
        while item is not _END:
            yield item
            item = await self.events.get()

    def error(self) -> BaseException | None:
        """What ended the stream early, once `tokens()` is exhausted (None: it finished)."""
        if self.future.cancelled():
            return GenerationError("request cancelled")
        return self.future.exception()

    def close(self) -> None:
        _cancel(self.requests, self.future)  # no-op when finished


def _cancel(requests: list[GenerationRequest], future: asyncio.Future[Any]) -> None:
    """The client went away: dropped if still queued, else its rows stop at the next step."""
    for request in requests:
        request.cancelled = True
    future.cancel()


@dataclass(frozen=True)
class Scored:
    """A request's rewards, what computed them (a version's name, or a named reward's), and where its time
    went: `queued` seconds before its batch started, and the batch's tokenize and forward seconds."""

    rewards: list[float]
    model: str
    queued: float
    timing: BatchTiming


# Called on the event loop for each new token of a group's request: (index in the group, token, result).
TokenForward = Callable[[int, TokenInfo, GenerationResult | None], None]


@dataclass
class Runtime:
    settings: Settings
    registry: ModelRegistry
    reward_batcher: MicroBatcher[ScoreRequest]
    generate_batcher: MicroBatcher[list[GenerationRequest]]
    db_pool: AsyncConnectionPool

    def serving(self, kind: ModelKind) -> LoadedModel:
        """The model of this kind that answers now; 503 when there is none."""
        loaded = self.registry.serving(kind)
        if loaded is None:
            raise ModelUnavailableError(no_model_message(self.registry, kind))
        return loaded

    def _submit(self, requests: list[GenerationRequest], forward: TokenForward | None) -> asyncio.Future[Any]:
        """Queue a group of requests (one answer's choices) as one unit of the batcher: they share a batch, so
        one version generates all of them. The future resolves to their results as soon as the last of them
        finishes, not when the longest row of the batch does."""
        loop = asyncio.get_running_loop()
        results: list[GenerationResult | None] = [None] * len(requests)
        submitted: list[asyncio.Future[Any]] = []

        def deliver(index: int, token: TokenInfo, result: GenerationResult | None) -> None:
            # On the event loop, so `submitted` is filled: submit() returned before any callback runs.
            if forward is not None:
                forward(index, token, result)
            if result is not None:
                results[index] = result
                if all(done is not None for done in results):
                    settle(submitted[0], list(results))

        for index, request in enumerate(requests):
            request.on_token = functools.partial(_call_on_loop, loop, deliver, index)
        submitted.append(self.generate_batcher.submit(requests, units=len(requests)))
        return submitted[0]

    async def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        """Generate a group of requests (one answer's choices); one result per request, in order."""
        future = self._submit(requests, None)
        try:
            results: list[GenerationResult] = await future
        except asyncio.CancelledError:
            _cancel(requests, future)
            raise
        return results

    async def stream(self, requests: list[GenerationRequest]) -> TokenStream:
        """Start generating a group; returns once the first token is there, so that a group that fails before
        it gets its HTTP error code, and the answer's headers can name the version that generates."""
        events: asyncio.Queue[Any] = asyncio.Queue()
        future = self._submit(
            requests, lambda index, token, result: events.put_nowait((index, token, result))
        )
        future.add_done_callback(lambda _: events.put_nowait(_END))
        stream = TokenStream(requests, future, events)
        try:
            stream.first = await events.get()
        except asyncio.CancelledError:
            stream.close()
            raise
        if stream.first is _END:
            await future  # raises the group's error
            raise GenerationError("generation ended without a token")
        return stream

    async def score(self, request: ScoreRequest) -> Scored:
        """Rewards of a request's inputs, what computed them and where the time went."""
        submitted = time.monotonic()
        rewards, model, timing = await self.reward_batcher.submit(request, units=len(request.inputs))
        return Scored(rewards, model, timing.started - submitted, timing)


def no_model_message(registry: ModelRegistry, kind: ModelKind) -> str:
    loading = registry.loading(kind)
    if loading is not None:
        return f"the {kind} model {loading.name} is still loading; retry shortly"
    failure = registry.failure(kind)
    if failure is not None:
        return f"the {kind} model {failure.target.name} failed to load: {failure.error}"
    if kind == ModelKind.REWARD:
        return no_reward_message(registry)
    return "no policy model is loaded: check RLHF_POLICY_MODEL or promote a policy version"


def _call_on_loop(
    loop: asyncio.AbstractEventLoop,
    deliver: TokenForward,
    index: int,
    token: TokenInfo,
    result: GenerationResult | None,
) -> None:
    loop.call_soon_threadsafe(deliver, index, token, result)


def _generate_batch(registry: ModelRegistry, groups: list[list[GenerationRequest]]) -> list[Any]:
    """One outcome per group: its results, or the first error among its requests (a group answers as one)."""
    policy = registry.serving(ModelKind.POLICY)
    if policy is None:
        return [ModelUnavailableError(no_model_message(registry, ModelKind.POLICY))] * len(groups)
    outcomes = generate_batch(policy, [request for group in groups for request in group])
    answers: list[Any] = []
    offset = 0
    for group in groups:
        mine = outcomes[offset : offset + len(group)]
        offset += len(group)
        answers.append(next((o for o in mine if isinstance(o, Exception)), mine))
    return answers


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the promoted models (settings are read here, not at import), start the batchers; stop both."""
    settings = get_settings()
    torch.set_num_threads(torch_threads(settings))
    registry = ModelRegistry(policy_model=settings.policy_model, poll_seconds=settings.model_poll_seconds)
    await asyncio.to_thread(registry.start)
    component_models = ComponentModels(registry)
    reward_batcher: MicroBatcher[ScoreRequest] = MicroBatcher(
        "reward",
        lambda batch: score_batch(registry, component_models, settings, batch),
        max_batch_size=settings.reward_max_batch_size,
        max_wait_s=settings.reward_max_wait_ms / 1000,
        max_queue_size=settings.max_queue_size,
        on_error=lambda exc: ScoringError(f"{type(exc).__name__}: {exc}"),
    )
    generate_batcher: MicroBatcher[list[GenerationRequest]] = MicroBatcher(
        "generate",
        lambda groups: _generate_batch(registry, groups),
        max_batch_size=settings.generate_max_batch_size,
        max_wait_s=settings.generate_max_wait_ms / 1000,
        max_queue_size=settings.max_queue_size,
        on_error=lambda exc: GenerationError(f"{type(exc).__name__}: {exc}"),
    )
    reward_batcher.start()
    generate_batcher.start()
    try:
        # On the event loop: API keys, looked up before a request's body is read (auth.py), and the reward a
        # /reward request names (reward_requests.py); no thread hop per request.
        async with async_pool(min_size=1, max_size=8, application_name="rlhf-inference") as pool:
            app.state.db_pool = pool
            app.state.runtime = Runtime(settings, registry, reward_batcher, generate_batcher, pool)
            yield
    finally:
        reward_batcher.stop()
        generate_batcher.stop()
        registry.stop()


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
