"""Plain Starlette routes for the collector's hottest endpoints, answering and documented as FastAPI's own.

FastAPI's work per request (resolving the route through the included routers, solving dependencies, checking
the response against its model) cost a quarter of the collector's CPU per annotator vote, more than its SQL
(py-spy under benchmarks/collector_load.py). A `PlainRoute` is a `starlette.routing.Route` whose endpoint reads
its own inputs with the helpers below, which validate with the same pydantic types and refuse with FastAPI's
answer (a `RequestValidationError`, rendered by services/collector/errors.py). FastAPI documents only its
own path operations: `document` adds these to the OpenAPI schema from what each route declares.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.collector.params import ID_DESCRIPTION
from services.core.inputs import MAX_ID

M = TypeVar("M", bound=BaseModel)
Endpoint = Callable[[Request], Awaitable[Response]]

_ID = TypeAdapter(Annotated[int, Field(ge=1, le=MAX_ID)])
_REF_TEMPLATE = "#/components/schemas/{model}"


@dataclass(frozen=True)
class HeaderParam:
    name: str
    max_length: int
    description: str

    def read(self, request: Request) -> str | None:
        """The header's value (None when absent), refused past `max_length` as FastAPI's `Header` would."""
        value = request.headers.get(self.name)
        if value is not None and len(value) > self.max_length:
            adapter = TypeAdapter(Annotated[str, Field(max_length=self.max_length)])
            try:
                adapter.validate_python(value)
            except ValidationError as error:
                raise _refused(error, ("header", self.name.lower())) from None
        return value


class PlainRoute(Route):
    """One method on one path; every `{name}` in the path is a numeric id. What it declares is what the OpenAPI
    schema says of it; the endpoint reads the same with `path_id`, `json_body` and `HeaderParam.read`."""

    def __init__(
        self,
        path: str,
        endpoint: Endpoint,
        *,
        method: str,
        response: type[BaseModel],
        status_code: int = 200,
        body: type[BaseModel] | None = None,
        headers: Sequence[HeaderParam] = (),
        responses: dict[int, str] | None = None,
        tags: Sequence[str] = (),
    ) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.method = method
        self.response = response
        self.status_code = status_code
        self.body = body
        self.headers = tuple(headers)
        self.responses = responses or {}
        self.tags = list(tags)


def path_id(request: Request, name: str) -> int:
    """The path's `{name}` as a PostgreSQL bigint id (FastAPI's `IdPath`)."""
    try:
        return _ID.validate_python(request.path_params[name])
    except ValidationError as error:
        raise _refused(error, ("path", name)) from None


async def json_body(request: Request, model: type[M]) -> M:
    """The body as `model`: JSON only (FastAPI's strict content type), refused as FastAPI refuses it."""
    raw = await request.body()
    if not raw:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    data: Any = raw
    if _is_json(request.headers.get("content-type", "")):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            raise RequestValidationError(
                [
                    {
                        "type": "json_invalid",
                        "loc": ("body", error.pos),
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": error.msg},
                    }
                ]
            ) from None
    try:
        return model.model_validate(
            data, from_attributes=True
        )  # as FastAPI validates a body (its ModelField)
    except ValidationError as error:
        raise _refused(error, ("body",)) from None


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def _is_json(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _refused(error: ValidationError, prefix: tuple[str, ...]) -> RequestValidationError:
    return RequestValidationError(
        [{**item, "loc": (*prefix, *item["loc"])} for item in error.errors(include_url=False)]
    )


# --- the OpenAPI schema ------------------------------------------------------------------------------------


def document(schema: dict[str, Any], routes: Sequence[Any]) -> None:
    """Add the plain routes among `routes` to FastAPI's OpenAPI `schema`, with their models as components."""
    plain = [route for route in routes if isinstance(route, PlainRoute)]
    models = {model for route in plain for model in (route.body, route.response) if model is not None}
    _, definitions = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template=_REF_TEMPLATE,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in definitions.get("$defs", {}).items():
        components.setdefault(name, definition)
    for route in plain:
        schema.setdefault("paths", {}).setdefault(route.path, {})[route.method.lower()] = _operation(route)


def _operation(route: PlainRoute) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_ID,
                "description": ID_DESCRIPTION,
                "title": name.replace("_", " ").title(),
            },
            "description": ID_DESCRIPTION,
        }
        for name in route.param_convertors
    ]
    parameters += [
        {
            "name": header.name.lower(),
            "in": "header",
            "required": False,
            "schema": {
                "anyOf": [{"type": "string", "maxLength": header.max_length}, {"type": "null"}],
                "description": header.description,
                "title": header.name,
            },
            "description": header.description,
        }
        for header in route.headers
    ]
    # Summary and operation id as FastAPI derives them from the endpoint's name (fastapi/utils.py).
    operation: dict[str, Any] = {
        "tags": route.tags,
        "security": [{"HTTPBearer": []}],  # the bearer scheme the other routes declare (deps.bearer)
        "summary": route.name.replace("_", " ").title(),
        "description": inspect.cleandoc(route.endpoint.__doc__ or ""),
        "operationId": re.sub(r"\W", "_", f"{route.name}{route.path_format}") + f"_{route.method.lower()}",
        "responses": {
            str(route.status_code): {
                "description": "Successful Response",
                "content": {"application/json": {"schema": {"$ref": _ref(route.response)}}},
            },
            **{str(code): {"description": text} for code, text in route.responses.items()},
        },
    }
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _ref(route.body)}}},
        }
    if parameters or route.body is not None:
        operation["responses"]["422"] = {
            "description": "Validation Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
        }
    return operation


def _ref(model: type[BaseModel]) -> str:
    return _REF_TEMPLATE.format(model=model.__name__)
