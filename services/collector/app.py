"""The collector: annotation queue, preferences, datasets, import/export, jobs, models; serves the web form."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from services.collector import admin_console, auth, web_form
from services.collector.errors import install_error_handlers
from services.collector.routes import (
    annotation,
    annotators,
    api_keys,
    comparisons,
    datasets,
    exports,
    health,
    job_kinds,
    jobs,
    model_versions,
    quality,
    rewards,
    stats,
)
from services.core.db import async_pool
from services.core.guard import RequestGuard
from services.core.http_metrics import RequestMetricsMiddleware, metrics_response
from services.queue import watchdog

API_PREFIX = auth.API_PREFIX


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    # The job watchdog (lost workers, lost broker messages); an advisory lock keeps it to one collector.
    task = asyncio.create_task(watchdog.run_forever())
    try:
        # The annotator's endpoints reach it as request.state.db_pool (deps.get_pool).
        async with async_pool() as db_pool:
            yield {"db_pool": db_pool}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app() -> FastAPI:
    app = FastAPI(title="RLHF collector", version="0.1.0", lifespan=lifespan)
    # The last added is the outermost: the metrics count the guard's refusals too.
    app.add_middleware(
        RequestGuard, authenticate=auth.authenticate, limits=auth.body_limits, render=auth.render
    )
    app.add_middleware(RequestMetricsMiddleware, service="collector")
    install_error_handlers(app)
    app.include_router(health.router)
    for module in (
        annotators,
        api_keys,
        datasets,
        comparisons,
        annotation,
        exports,
        stats,
        quality,
        jobs,
        job_kinds,
        model_versions,
        rewards,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(web_form.router)
    app.include_router(admin_console.router)
    app.add_route("/metrics", metrics_response, include_in_schema=False)
    return app


app = create_app()
