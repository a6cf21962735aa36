"""The one place where domain errors, invalid requests (and a lost database connection) become HTTP answers."""

import math
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.core.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
)

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    NotFoundError: 404,
    ForbiddenError: 403,
    ConflictError: 409,
    InvalidInputError: 422,
    PayloadTooLargeError: 413,
}


def _printable(value: Any) -> Any:
    """`value` as JSON can carry it: a pydantic error echoes the refused input, which may be a lone surrogate
    (no UTF-8 form) or NaN (no JSON form); those are shown escaped instead of failing the answer (a 500)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_printable(key): _printable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_printable(item) for item in value]
    return value


def install_error_handlers(app: FastAPI) -> None:
    async def request_validation_error(request: Request, exc: Exception) -> JSONResponse:
        # FastAPI's own answer ({"detail": [errors]}), with the echoed inputs made printable.
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(status_code=422, content={"detail": _printable(jsonable_encoder(exc.errors()))})

    app.add_exception_handler(RequestValidationError, request_validation_error)

    async def domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        code = next(code for cls, code in STATUS_BY_ERROR.items() if isinstance(exc, cls))
        return JSONResponse(status_code=code, content={"detail": exc.message})

    for error_class in STATUS_BY_ERROR:
        app.add_exception_handler(error_class, domain_error)

    async def database_connection_lost(request: Request, exc: Exception) -> JSONResponse:
        # The annotator's endpoints use the async pool directly (the admin ones go through SQLAlchemy, whose
        # pre-ping replaces dead connections). After a PostgreSQL restart every idle pooled connection is
        # dead: replace them all in one sweep, so only the requests already under way fail, and retryably.
        pool = getattr(request.state, "db_pool", None)
        if pool is not None:
            await pool.check()
        return JSONResponse(
            status_code=503,
            content={"detail": "the database connection was lost; retry the request"},
            headers={"Retry-After": "1"},
        )

    app.add_exception_handler(psycopg.OperationalError, database_connection_lost)
