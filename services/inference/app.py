"""The inference service: TGI-compatible /generate, /generate_stream and /, OpenAI-compatible /v1/chat/completions,
/v1/completions and /v1/models, /reward, OpenRLHF's /get_reward, /info, /health, /metrics. With RLHF_INFERENCE_AUTH
on, every route but /health needs the admin token or an API key with the `infer` scope (auth.py).

`uvicorn services.inference.app:app`. Settings are read, and models loaded, at startup (runtime.lifespan),
not at import. A new family of routes is a module in routes/ with an APIRouter, included here.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.core.guard import RequestGuard
from services.core.http_metrics import NO_OPENTELEMETRY, RequestMetricsMiddleware, metrics_response
from services.inference import auth
from services.inference.errors import install_error_handlers
from services.inference.routes import health, info, openai, openrlhf, reward, tgi
from services.inference.routes.info import VERSION
from services.inference.runtime import lifespan


def create_app() -> FastAPI:
    app = FastAPI(
        title="RLHF inference",
        version=VERSION,
        lifespan=lifespan,
        telemetry=NO_OPENTELEMETRY,
        description="Serves the promoted policy (text-generation-inference's and OpenAI's APIs) and reward model.",
    )
    # The last added is the outermost: the metrics count the guard's refusals too.
    app.add_middleware(
        RequestGuard, authenticate=auth.authenticate, limits=auth.body_limits, render=auth.render
    )
    app.add_middleware(RequestMetricsMiddleware, service="inference")
    install_error_handlers(app)
    for module in (health, info, tgi, openai, reward, openrlhf):
        app.include_router(module.router)
    app.add_route("/metrics", metrics_response, include_in_schema=False)
    return app


app = create_app()
