"""MicroBatcher in-process: gathering, size bound, queue bound, per-request errors."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from services.inference.batching import MicroBatcher
from services.inference.errors import GenerationError, OverloadedError


def batcher(
    process: Callable[[list[Any]], list[Any]],
    *,
    max_batch_size: int = 8,
    max_wait_s: float = 0.05,
    queue: int = 64,
) -> MicroBatcher[Any]:
    worker: MicroBatcher[Any] = MicroBatcher(
        "test",
        process,
        max_batch_size=max_batch_size,
        max_wait_s=max_wait_s,
        max_queue_size=queue,
        on_error=lambda exc: GenerationError(str(exc)),
    )
    worker.start()
    return worker


def test_concurrent_submissions_share_one_batch() -> None:
    batches: list[list[int]] = []

    def process(items: list[int]) -> list[int]:
        batches.append(items)
        return [item * 10 for item in items]

    worker = batcher(process, max_wait_s=0.2)

    async def run() -> list[int]:
        return await asyncio.gather(*(worker.submit(i) for i in range(5)))

    try:
        results = asyncio.run(run())
    finally:
        worker.stop()

    assert results == [0, 10, 20, 30, 40]
    assert batches == [[0, 1, 2, 3, 4]]


def test_without_a_window_requests_queued_in_one_loop_turn_share_one_batch() -> None:
    batches: list[list[int]] = []

    def process(items: list[int]) -> list[int]:
        batches.append(items)
        return items

    # No window: the worker is woken once, at the end of the event loop's turn that queued them.
    worker = batcher(process, max_wait_s=0.0)

    async def run() -> list[int]:
        return await asyncio.gather(*(worker.submit(i) for i in range(5)))

    try:
        results = asyncio.run(run())
    finally:
        worker.stop()

    assert results == [0, 1, 2, 3, 4]
    assert batches == [[0, 1, 2, 3, 4]]


def test_batches_never_exceed_max_batch_size_in_units() -> None:
    sizes: list[int] = []

    def process(items: list[list[int]]) -> list[int]:
        sizes.append(sum(len(item) for item in items))
        return [len(item) for item in items]

    worker = batcher(process, max_batch_size=8, max_wait_s=0.2)

    async def run() -> list[int]:
        return await asyncio.gather(*(worker.submit([0] * n, units=n) for n in (3, 3, 3, 5, 1, 12)))

    try:
        results = asyncio.run(run())
    finally:
        worker.stop()

    assert results == [3, 3, 3, 5, 1, 12]
    # A request larger than the batch goes alone; the others never add up past 8.
    assert 12 in sizes and all(size <= 8 for size in sizes if size != 12)
    assert sum(sizes) == 27


def test_full_queue_refuses_with_overloaded() -> None:
    release = threading.Event()

    def process(items: list[int]) -> list[int]:
        release.wait(10)
        return items

    worker = batcher(process, max_batch_size=1, max_wait_s=0.0, queue=3)

    async def run() -> tuple[list[Any], BaseException]:
        first = worker.submit(0)
        await asyncio.sleep(0.2)  # the worker is now blocked on the first item
        queued = [worker.submit(i, units=1) for i in (1, 2, 3)]
        with pytest.raises(OverloadedError) as refused:
            worker.submit(4)
        release.set()
        return await asyncio.gather(first, *queued), refused.value

    try:
        results, refused = asyncio.run(run())
    finally:
        release.set()
        worker.stop()

    assert results == [0, 1, 2, 3]
    assert refused.error_type == "overloaded" and refused.status_code == 429  # type: ignore[attr-defined]


def test_item_error_reaches_only_its_request() -> None:
    def process(items: list[int]) -> list[Any]:
        return [ValueError("odd") if item % 2 else item for item in items]

    worker = batcher(process)

    async def run() -> list[Any]:
        return await asyncio.gather(*(worker.submit(i) for i in range(4)), return_exceptions=True)

    try:
        results = asyncio.run(run())
    finally:
        worker.stop()

    assert results[0] == 0 and results[2] == 2
    assert isinstance(results[1], ValueError) and isinstance(results[3], ValueError)


def test_process_failure_fails_every_request_of_the_batch_and_the_worker_lives_on() -> None:
    calls = 0

    def process(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("model exploded")
        return items

    worker = batcher(process, max_wait_s=0.1)

    async def run() -> tuple[list[Any], int]:
        failed = await asyncio.gather(*(worker.submit(i) for i in range(3)), return_exceptions=True)
        return failed, await worker.submit(7)

    try:
        failed, later = asyncio.run(run())
    finally:
        worker.stop()

    assert all(isinstance(error, GenerationError) and "model exploded" in str(error) for error in failed)
    assert later == 7
