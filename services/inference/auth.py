"""Who may call the inference service: with RLHF_INFERENCE_AUTH on (docker-compose, production), the admin
token or an API key with the `infer` scope, checked by the request guard (services/core/guard.py) before the
body is read; /health stays open. Off (a local `rlhf up`), any token a client sends is ignored: the `openai`
client always sends one."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import psycopg
from starlette.types import Scope

from services.core.db import lookup_connection
from services.core.enums import ApiKeyScope
from services.core.guard import BodyLimits, Refusal
from services.core.security import tokens_equal
from services.core.settings import get_settings
from services.domain import api_keys
from services.inference.errors import OPENAI_PREFIX, openai_error_body, tgi_error_body

OPEN_PATHS = frozenset({"/health"})
# OpenRLHF's remote reward client sends no headers: its URL carries the key (`?api_key=`).
QUERY_KEY_PATHS = frozenset({"/get_reward"})

UNAUTHORIZED = Refusal(401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})


def _query_key(scope: Scope) -> str | None:
    if scope["path"] not in QUERY_KEY_PATHS:
        return None
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("api_key")
    return values[0] if values else None


async def authenticate(scope: Scope, token: str | None) -> Refusal | None:
    settings = get_settings()
    if not settings.inference_auth_on or scope["path"] in OPEN_PATHS:
        return None
    token = token or _query_key(scope)
    if token is None:
        return UNAUTHORIZED
    if tokens_equal(token, settings.resolved_admin_token()):
        return None
    if not api_keys.is_api_key(token):
        return UNAUTHORIZED
    pool = scope["app"].state.db_pool
    try:
        async with lookup_connection(pool) as connection:
            key = await api_keys.get_by_key(connection, token)
    except psycopg.OperationalError:
        await pool.check()
        return Refusal(503, "the database connection was lost; retry the request", {"Retry-After": "1"})
    if key is None:
        return UNAUTHORIZED
    if key.refused is not None:
        return Refusal(401, key.refused, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if not key.allows(ApiKeyScope.INFER):
        return Refusal(403, "this API key lacks the `infer` scope")
    return None


def body_limits(scope: Scope) -> BodyLimits:
    settings = get_settings()
    return BodyLimits(settings.max_body_bytes, settings.body_timeout_seconds)


def render(scope: Scope, status: int, detail: str) -> dict[str, Any]:
    """The route family's error shape: OpenAI's under /v1/, TGI's elsewhere."""
    if scope["path"].startswith(OPENAI_PREFIX):
        return openai_error_body(status, detail)
    return tgi_error_body(status, detail)
