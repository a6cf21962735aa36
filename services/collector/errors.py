"""The one place where domain errors become HTTP answers."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.core.errors import (
    ConflictError,
    DomainError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
)

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    NotFoundError: 404,
    ConflictError: 409,
    InvalidInputError: 422,
    PayloadTooLargeError: 413,
}


def install_error_handlers(app: FastAPI) -> None:
    async def domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        code = next(code for cls, code in STATUS_BY_ERROR.items() if isinstance(exc, cls))
        return JSONResponse(status_code=code, content={"detail": exc.message})

    for error_class in STATUS_BY_ERROR:
        app.add_exception_handler(error_class, domain_error)
