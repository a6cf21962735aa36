"""The collector: annotation queue, preferences, datasets, import/export, jobs, models; serves the web form."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from services.collector import admin_console, auth, plain_routes, web_form
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
from services.core.http_metrics import NO_OPENTELEMETRY, RequestMetricsMiddleware, metrics_response
from services.core.http_server import tune_garbage_collector
from services.queue import watchdog

API_PREFIX = auth.API_PREFIX


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    # The job watchdog (lost workers, lost broker messages); an advisory lock keeps it to one collector.
    task = asyncio.create_task(watchdog.run_forever())
    try:
        # The annotator's endpoints reach it as request.state.db_pool (routes/annotation.py).
        async with async_pool() as db_pool:
            tune_garbage_collector()
            yield {"db_pool": db_pool}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class CollectorApp(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """FastAPI's schema, with the annotator's plain routes, which FastAPI does not document itself."""
        if self.openapi_schema is None:
            fastapi_schema = super().openapi()
            self.openapi_schema = None  # cached only once the plain routes are in it
            self.openapi_schema = plain_routes.document(fastapi_schema, self.routes)
        return self.openapi_schema


def create_app() -> FastAPI:
    # The annotator's routes come first: the busiest requests are matched without walking the others.
    app = CollectorApp(
        title="RLHF collector",
        version="0.1.0",
        lifespan=lifespan,
        routes=annotation.routes(API_PREFIX),
        telemetry=NO_OPENTELEMETRY,
    )
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
