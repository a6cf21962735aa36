"""Who is calling: the admin, an annotator or an API key. The request guard (services/core/guard.py) asks this
before the body is read; the routes' dependencies (deps.py), or the annotator's plain routes
(routes/annotation.py), then authorize what the caller found here may do."""

from __future__ import annotations

from typing import Any

import psycopg
from starlette.types import Scope

from services.core.db import lookup_connection
from services.core.guard import PRINCIPAL, BodyLimits, Refusal
from services.core.security import tokens_equal
from services.core.settings import get_settings
from services.domain import annotators, api_keys
from services.domain.annotators import Identity
from services.domain.api_keys import KeyIdentity

API_PREFIX = "/api/v1"
IMPORT_SUFFIX = "/import"
MODEL_UPLOAD_PATH = "/models/upload"


class Admin:
    """The admin token's bearer: every right."""


ADMIN = Admin()
Principal = Admin | Identity | KeyIdentity

UNAUTHORIZED = Refusal(401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})
DATABASE_LOST = Refusal(503, "the database connection was lost; retry the request", {"Retry-After": "1"})


async def authenticate(scope: Scope, token: str | None) -> Refusal | None:
    """Refuse a request under /api/v1 without a token that works now; leave the caller in the request state.
    The rest (health, metrics, the web form, the API docs) is open."""
    if not scope["path"].startswith(API_PREFIX + "/"):
        return None
    if token is None:
        return UNAUTHORIZED
    state: dict[str, Any] = scope["state"]
    if tokens_equal(token, get_settings().resolved_admin_token()):
        state[PRINCIPAL] = ADMIN
        return None
    pool = state["db_pool"]
    try:
        async with lookup_connection(pool) as connection:
            if api_keys.is_api_key(token):
                found: Identity | KeyIdentity | None = await api_keys.get_by_key(connection, token)
            else:
                found = await annotators.get_by_token(connection, token)
    except psycopg.OperationalError:
        # After a PostgreSQL restart every idle pooled connection is dead: replace them in one sweep.
        await pool.check()
        return DATABASE_LOST
    if found is None:
        return UNAUTHORIZED
    if found.refused is not None:
        # Said plainly, so the web form can tell the annotator why and what to do.
        advice = "ask your project admin for a new sign-in link" if isinstance(found, Identity) else ""
        detail = f"{found.refused}; {advice}" if advice else found.refused
        return Refusal(401, detail, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    state[PRINCIPAL] = found
    return None


def body_limits(scope: Scope) -> BodyLimits:
    """The JSONL import and a model's archive stream their bodies to temporary files: they have their own,
    larger limits."""
    settings = get_settings()
    if scope["path"] == API_PREFIX + MODEL_UPLOAD_PATH:
        return BodyLimits(settings.max_model_upload_bytes, settings.import_timeout_seconds)
    if scope["path"].startswith(API_PREFIX + "/datasets/") and scope["path"].endswith(IMPORT_SUFFIX):
        return BodyLimits(settings.max_import_bytes, settings.import_timeout_seconds)
    return BodyLimits(settings.max_body_bytes, settings.body_timeout_seconds)


def render(scope: Scope, status: int, detail: str) -> dict[str, Any]:
    return {"detail": detail}
