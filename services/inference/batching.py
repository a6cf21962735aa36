"""Micro-batching: concurrent requests gathered into one model call, on a worker thread of its own.

Each queue has one worker thread, so the model runs off the event loop and a model's forward passes never
overlap. A batch closes when it holds `max_batch_size` units (reward pairs, generation requests) or when
its oldest request has waited `max_wait_s`; with `max_wait_s` 0 a free model takes whatever is queued at
once (a lone request waits for nothing) and batches form while the model is busy. The queue holds at most
`max_queue_size` units; past that, `submit` refuses at once (HTTP 429) instead of letting memory grow.

The thread hops are per batch, not per request: requests queued during one turn of the event loop wake the
worker once (at the end of the turn), and a batch's outcomes reach the event loop in one callback. Measured
under 32 concurrent /reward clients, a wake-up per request and a callback per request cost more CPU than
the short inputs' tokenization.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from services.inference.errors import OverloadedError

logger = logging.getLogger(__name__)

Item = TypeVar("Item")

BATCH_SIZE = Histogram(
    "rlhf_inference_batch_size",
    "Units (reward pairs, generation requests) per model batch",
    ["queue"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
QUEUE_DEPTH = Gauge("rlhf_inference_queue_depth", "Units waiting for a batch", ["queue"])
REJECTED = Counter("rlhf_inference_rejected_total", "Requests refused because the queue was full", ["queue"])
BATCH_SECONDS = Histogram(
    "rlhf_inference_batch_seconds",
    "Time to process one batch",
    ["queue"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
QUEUE_WAIT_SECONDS = Histogram(
    "rlhf_inference_queue_wait_seconds",
    "Time from submission to the start of the request's batch",
    ["queue"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


@dataclass
class _Pending(Generic[Item]):
    item: Item
    units: int
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    enqueued_at: float = field(default_factory=time.monotonic)


def settle(future: asyncio.Future[Any], outcome: Any) -> None:
    """Give a request its outcome (on the event loop); a no-op if it has one or its client went away."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class MicroBatcher(Generic[Item]):
    """`process(items)` runs on the worker thread and returns one outcome per item: a result, or an
    exception for that item alone. If it raises, `on_error(exc)` becomes every item's outcome."""

    def __init__(
        self,
        name: str,
        process: Callable[[list[Item]], Sequence[Any]],
        *,
        max_batch_size: int,
        max_wait_s: float,
        max_queue_size: int,
        on_error: Callable[[BaseException], BaseException],
    ) -> None:
        if max_batch_size < 1 or max_queue_size < 1:
            raise ValueError("max_batch_size and max_queue_size must be at least 1")
        self.name = name
        self._process = process
        self._on_error = on_error
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue_size = max_queue_size
        self._queue: deque[_Pending[Item]] = deque()
        self._queued_units = 0
        self._condition = threading.Condition()
        self._running = False
        self._thread: threading.Thread | None = None
        # Set (on the event loop) while a wake-up of the worker is scheduled for the end of the loop's turn.
        self._wake_scheduled = False
        self._depth = QUEUE_DEPTH.labels(name)
        self._rejected = REJECTED.labels(name)
        self._batch_size = BATCH_SIZE.labels(name)
        self._batch_seconds = BATCH_SECONDS.labels(name)
        self._queue_wait = QUEUE_WAIT_SECONDS.labels(name)
        self._depth.set(0)

    @property
    def queued_units(self) -> int:
        return self._queued_units

    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._work, name=f"{self.name}-batcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._condition:
            self._running = False
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def submit(self, item: Item, *, units: int = 1) -> asyncio.Future[Any]:
        """Queue one request (call from the event loop); the future resolves to its outcome."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._condition:
            if not self._running:
                raise RuntimeError(f"the {self.name} batcher is not running")
            # An empty queue always takes a request, however large, so a big request cannot be starved.
            if self._queue and self._queued_units + units > self.max_queue_size:
                self._rejected.inc()
                raise OverloadedError(self.name)
            self._queue.append(_Pending(item, units, future, loop))
            self._queued_units += units
            self._depth.set(self._queued_units)
        if not self._wake_scheduled:
            self._wake_scheduled = True
            loop.call_soon(self._wake)
        return future

    def _wake(self) -> None:
        """End of the event loop's turn: the requests it queued meanwhile go to the worker together."""
        self._wake_scheduled = False
        with self._condition:
            self._condition.notify()

    def _take_batch(self) -> list[_Pending[Item]]:
        with self._condition:
            while self._running and not self._queue:
                self._condition.wait()
            if not self._queue:
                return []
            deadline = self._queue[0].enqueued_at + self.max_wait_s
            while self._running and self._queued_units < self.max_batch_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            batch: list[_Pending[Item]] = []
            units = 0
            while self._queue and (not batch or units + self._queue[0].units <= self.max_batch_size):
                pending = self._queue.popleft()
                self._queued_units -= pending.units
                if pending.future.cancelled():
                    continue
                batch.append(pending)
                units += pending.units
            self._depth.set(self._queued_units)
            return batch

    def _work(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                if not self._running:
                    return
                continue
            started = time.monotonic()
            for pending in batch:
                self._queue_wait.observe(started - pending.enqueued_at)
            self._batch_size.observe(sum(pending.units for pending in batch))
            try:
                outcomes = list(self._process([pending.item for pending in batch]))
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"{self.name}: {len(outcomes)} outcomes for {len(batch)} requests")
            except Exception as exc:  # noqa: BLE001 - the requests get the error; the worker must live on
                logger.exception("%s batch of %d failed", self.name, len(batch))
                outcomes = [self._on_error(exc)] * len(batch)
            self._batch_seconds.observe(time.monotonic() - started)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
            for pending, outcome in zip(batch, outcomes, strict=True):
                by_loop.setdefault(pending.loop, []).append((pending.future, outcome))
            for loop, settled in by_loop.items():
                loop.call_soon_threadsafe(_settle_all, settled)


def _settle_all(settled: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, outcome in settled:
        settle(future, outcome)
