"""The inference service's errors and the one place where they become HTTP answers.

Two wire formats, chosen by path. The TGI routes (and /reward) answer TGI's ErrorResponse
`{"error", "error_type"}` (router/src/server.rs: 422 validation, 429 overloaded, 424 generation) so that
TGI clients raise their typed errors, plus `detail` with the same message, the convention of this
project's other service. Everything under /v1/ answers OpenAI's `{"error": {"message", "type", "param",
"code"}}` with OpenAI's codes (400 for invalid parameters, 404 for an unknown model or route), so that the
`openai` client raises its typed errors (BadRequestError, NotFoundError, RateLimitError, ...).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.inference.schemas import ErrorResponse

OPENAI_PREFIX = "/v1/"


class InferenceError(Exception):
    status_code = 500
    error_type = "unknown"
    # OpenAI's `param` (the request field at fault) and `code` (a machine-readable reason), where known.
    param: str | None = None
    code: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error": self.message, "error_type": self.error_type, "detail": self.message}

    @property
    def openai_message(self) -> str:
        return self.message


class ValidationError(InferenceError):
    """Invalid request parameters; the message is TGI's, prefixed as TGI prefixes it."""

    status_code = 422
    error_type = "validation"

    def __init__(self, reason: str) -> None:
        super().__init__(f"Input validation error: {reason}")
        self.reason = reason

    @property
    def openai_message(self) -> str:
        return self.reason


class ContextLengthError(ValidationError):
    """The input, or the input and the tokens asked for, do not fit the model's window."""

    code = "context_length_exceeded"

    def __init__(self, *, window: int, input_length: int, max_new_tokens: int | None) -> None:
        if max_new_tokens is None:
            super().__init__(f"`inputs` must have less than {window} tokens. Given: {input_length}")
            self._openai = (
                f"This model's maximum context length is {window} tokens. However, your prompt has "
                f"{input_length} tokens. Please reduce the length of the prompt."
            )
        else:
            super().__init__(
                f"`inputs` tokens + `max_new_tokens` must be <= {window}. "
                f"Given: {input_length} `inputs` tokens and {max_new_tokens} `max_new_tokens`"
            )
            self._openai = (
                f"This model's maximum context length is {window} tokens. However, you requested "
                f"{input_length + max_new_tokens} tokens ({input_length} in the prompt, {max_new_tokens} "
                "in the completion). Please reduce the length of the prompt or of max_tokens."
            )

    @property
    def openai_message(self) -> str:
        return self._openai


class InvalidRequestError(InferenceError):
    """OpenAI's 400: an invalid parameter of a /v1 route (`param` names it)."""

    status_code = 400
    error_type = "invalid_request_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class ModelNotFoundError(InferenceError):
    """OpenAI's 404 for a `model` this service does not serve (now)."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "model_not_found"
    param = "model"


class RewardNotFoundError(InferenceError):
    """/reward or /get_reward names a reward that was never created."""

    status_code = 404
    error_type = "not_found"


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
        location = _location(error)
        parts.append(f"{location}: {error.get('msg')}" if location else str(error.get("msg")))
    return "; ".join(parts) or "invalid request body"


def _location(error: dict[str, Any]) -> str:
    return ".".join(str(part) for part in error.get("loc", ()) if part != "body")


# OpenAI's error `type` for each status the /v1 routes answer.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
}
# Our codes that OpenAI's API spells differently: a TGI 422 is OpenAI's 400, a failed generation its 500.
_OPENAI_STATUS = {422: 400, 424: 500}


# TGI's `error_type` for the answers given before (or instead of) a route: auth, size, time, routing.
_TGI_TYPES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    413: "payload_too_large",
    503: "unavailable",
}


def tgi_error_body(status_code: int, message: str) -> dict[str, str]:
    return {"error": message, "error_type": _TGI_TYPES.get(status_code, "error"), "detail": message}


def openai_error_body(
    status_code: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    error_type = _OPENAI_TYPES.get(
        status_code, "server_error" if status_code >= 500 else "invalid_request_error"
    )
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def openai_error_response(exc: InferenceError) -> JSONResponse:
    status_code = _OPENAI_STATUS.get(exc.status_code, exc.status_code)
    body = openai_error_body(status_code, exc.openai_message, param=exc.param, code=exc.code)
    return JSONResponse(status_code=status_code, content=body)


def _is_openai(request: Request) -> bool:
    return request.url.path.startswith(OPENAI_PREFIX)


def install_error_handlers(app: FastAPI) -> None:
    async def inference_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InferenceError)
        if _is_openai(request):
            return openai_error_response(exc)
        return JSONResponse(status_code=exc.status_code, content=exc.body())

    async def request_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        if _is_openai(request):
            errors = exc.errors()
            param = _location(errors[0]) if errors else None
            return JSONResponse(
                status_code=400, content=openai_error_body(400, _pydantic_message(exc), param=param or None)
            )
        error = ValidationError(_pydantic_message(exc))
        return JSONResponse(status_code=error.status_code, content=error.body())

    async def http_error(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, StarletteHTTPException)
        if not _is_openai(request):
            return JSONResponse(
                status_code=exc.status_code,
                content=tgi_error_body(exc.status_code, str(exc.detail)),
                headers=getattr(exc, "headers", None),
            )
        message = f"{exc.detail}: {request.method} {request.url.path}"
        if exc.status_code == 404:
            message += " (this service answers /v1/chat/completions, /v1/completions and /v1/models)"
        return JSONResponse(
            status_code=exc.status_code,
            content=openai_error_body(exc.status_code, message),
            headers=getattr(exc, "headers", None),
        )

    app.add_exception_handler(InferenceError, inference_error)
    app.add_exception_handler(RequestValidationError, request_validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
