"""Request bodies too large to hold in memory (JSONL imports)."""

from __future__ import annotations

import tempfile
from typing import IO

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

# Past this size the spooled body moves from memory to a temporary file.
IN_MEMORY_BYTES = 4 * 1024 * 1024


async def spool_body(request: Request) -> IO[bytes]:
    """The request body as a binary file, read chunk by chunk: memory stays bounded for any size."""
    spool = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES)  # noqa: SIM115 - the caller closes it
    try:
        async for chunk in request.stream():
            if spool._rolled:  # type: ignore[attr-defined]
                await run_in_threadpool(spool.write, chunk)  # disk writes stay off the event loop
            else:
                spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool
