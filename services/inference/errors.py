"""The inference service's errors and the one place where they become HTTP answers.

Bodies follow TGI's ErrorResponse `{"error", "error_type"}` (router/src/server.rs: 422 validation,
429 overloaded, 424 generation) so that TGI clients raise their typed errors, plus `detail` with the
same message, the convention of this project's other service.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.inference.schemas import ErrorResponse


class InferenceError(Exception):
    status_code = 500
    error_type = "unknown"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error": self.message, "error_type": self.error_type, "detail": self.message}


class ValidationError(InferenceError):
    """Invalid request parameters; the message is TGI's, prefixed as TGI prefixes it."""

    status_code = 422
    error_type = "validation"

    def __init__(self, reason: str) -> None:
        super().__init__(f"Input validation error: {reason}")


class OverloadedError(InferenceError):
    status_code = 429
    error_type = "overloaded"

    def __init__(self, queue: str) -> None:
        super().__init__(f"Model is overloaded: the {queue} queue is full, retry later")


class GenerationError(InferenceError):
    status_code = 424
    error_type = "generation"

    def __init__(self, reason: str) -> None:
        super().__init__(f"Request failed during generation: {reason}")


class ScoringError(InferenceError):
    """The reward model failed on a batch (the counterpart of TGI's 424 for /reward)."""

    status_code = 424
    error_type = "scoring"

    def __init__(self, reason: str) -> None:
        super().__init__(f"Request failed during scoring: {reason}")


class ModelUnavailableError(InferenceError):
    status_code = 503
    error_type = "unavailable"


# The error answers of the model routes, for the OpenAPI page.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "Input validation error (error_type `validation`)"},
    424: {"model": ErrorResponse, "description": "The model failed on this request"},
    429: {"model": ErrorResponse, "description": "Queue full (error_type `overloaded`): retry later"},
    503: {
        "model": ErrorResponse,
        "description": "No model of this kind is loaded (error_type `unavailable`)",
    },
}


def _pydantic_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        parts.append(f"{location}: {error.get('msg')}" if location else str(error.get("msg")))
    return "; ".join(parts) or "invalid request body"


def install_error_handlers(app: FastAPI) -> None:
    async def inference_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InferenceError)
        return JSONResponse(status_code=exc.status_code, content=exc.body())

    async def request_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        error = ValidationError(_pydantic_message(exc))
        return JSONResponse(status_code=error.status_code, content=error.body())

    app.add_exception_handler(InferenceError, inference_error)
    app.add_exception_handler(RequestValidationError, request_validation_error)
