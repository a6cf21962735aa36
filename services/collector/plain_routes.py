"""Plain Starlette routes for the collector's hottest endpoints, answering and documented as FastAPI's own.

FastAPI's work per request (resolving the route through the included routers, solving dependencies, checking
the response against its model) cost a quarter of the collector's CPU per annotator vote (py-spy and an A/B
run of benchmarks/collector_load.py; its SQL through psycopg is about 45 %). A `PlainRoute` serves one method
on one path in FastAPI's order: read the body and decode its JSON (400, 408, 413, 422 `json_invalid`),
authorize the caller (403), then validate the path, header and body together against the route's `inputs`
model (one 422 listing every error, located as FastAPI locates them), and only then call the endpoint. FastAPI documents only its own path
operations: `document` adds these to the OpenAPI schema from the same `inputs` model.
"""

from __future__ import annotations

import email.message
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import Any, Generic, TypeVar

from fastapi import HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import OpenAPI
from fastapi.openapi.utils import validation_error_definition, validation_error_response_definition
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

Caller = TypeVar("Caller")
Inputs = TypeVar("Inputs", bound=BaseModel)

# Where FastAPI locates each part of a request in a validation error, in the order it validates them: an
# inputs model declares the parts it reads in this order (its errors come in its fields' order).
PARTS = ("path", "header", "body")
_REF_TEMPLATE = "#/components/schemas/{model}"
_NO_BODY = object()


class NoInputs(BaseModel):
    """The inputs of a route that reads nothing from the request."""


class PlainRoute(Route, Generic[Caller, Inputs]):
    """`inputs` is a model with a field per part of the request that the route reads: `path` and `header`
    (models whose fields are the path's `{names}` and the headers, by their names), `body` (the body's model).
    The endpoint is called with the request, what `authorize` returned, and the validated inputs. It belongs
    in the app's own routes (FastAPI(routes=...)): an APIRouter that is included rebuilds its plain routes as
    Starlette's, prefix and class lost."""

    def __init__(
        self,
        prefix: str,
        path: str,
        endpoint: Callable[[Request, Caller, Inputs], Awaitable[Response]],
        *,
        method: str,
        authorize: Callable[[Request], Caller],
        inputs: type[Inputs],
        response: type[BaseModel],
        status_code: int = 200,
        responses: dict[int, str] | None = None,
        tags: Sequence[str] = (),
    ) -> None:
        self.parts = tuple(inputs.model_fields)  # what each request has read and validated
        if list(self.parts) != [part for part in PARTS if part in self.parts]:
            raise ValueError(
                f"{inputs.__name__} must declare some of {PARTS}, in that order; it has {list(self.parts)}"
            )
        method = method.upper()
        super().__init__(prefix + path, self._serve, methods=[method], name=endpoint.__name__)
        # As FastAPI's routes under a router's prefix: `path` without it (the request metrics' route label, as
        # the collector's other routes have theirs), `path_format` with it.
        self.path = path
        self.methods = {method}  # Starlette adds HEAD to a GET; FastAPI does not, and `next` leases
        self.method = method
        self.handler = endpoint
        self.authorize = authorize
        self.inputs = inputs
        self.response = response
        self.status_code = status_code
        self.responses = responses or {}
        self.tags = list(tags)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self  # the request metrics' label (services/core/http_metrics.py)
        return match, child_scope

    def part(self, name: str) -> type[BaseModel] | None:
        field = self.inputs.model_fields.get(name)
        return None if field is None else field.annotation  # type: ignore[return-value]

    async def _serve(self, request: Request) -> Response:
        body = await _read_json(request) if "body" in self.parts else _NO_BODY
        caller = self.authorize(request)
        read: dict[str, Any] = {"path": request.path_params, "header": request.headers, "body": body}
        try:
            # from_attributes: as FastAPI validates a body (a list there is refused as it refuses one).
            inputs = self.inputs.model_validate(
                {part: read[part] for part in self.parts if read[part] is not _NO_BODY}, from_attributes=True
            )
        except ValidationError as error:
            # FastAPI's missing body echoes no input (pydantic's would echo the request's other parts).
            errors = [
                item | {"input": None} if item["type"] == "missing" and item["loc"] == ("body",) else item
                for item in error.errors(include_url=False)
            ]
            raise RequestValidationError(errors) from None
        return await self.handler(request, caller, inputs)


async def _read_json(request: Request) -> Any:
    """The body's JSON, as FastAPI reads a body (fastapi/routing.py): only a JSON content type is decoded
    (else the bytes are validated, and refused); no body at all is a missing body; a body that cannot be read
    or decoded is a 400, and malformed JSON a 422 `json_invalid`. The guard's 413 and 408 pass through."""
    try:
        raw = await request.body()
        if not raw:
            return _NO_BODY
        if not _is_json(request.headers.get("content-type", "")):
            return raw
        return json.loads(raw)
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
    except HTTPException:
        raise
    except Exception as error:
        raise HTTPException(400, "There was an error parsing the body") from error


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


@lru_cache(maxsize=64)  # clients send a few content types; parsing one costs more than the lookup
def _is_json(content_type: str) -> bool:
    """As FastAPI reads a content type (fastapi/routing.py: the email package's parser)."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


# --- the OpenAPI schema ------------------------------------------------------------------------------------


def document(schema: dict[str, Any], routes: Sequence[Any]) -> dict[str, Any]:
    """FastAPI's OpenAPI `schema` with the plain routes among `routes` added, their models as components,
    passed through FastAPI's own OpenAPI model as FastAPI passes its schema (fastapi/openapi/utils.py)."""
    plain = [route for route in routes if isinstance(route, PlainRoute)]
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (route.response, "serialization") for route in plain
    ]
    models += [(body, "validation") for route in plain if (body := route.part("body")) is not None]
    refs, definitions = models_json_schema(
        sorted(set(models), key=lambda m: m[0].__name__), ref_template=_REF_TEMPLATE
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ValidationError", validation_error_definition)
    components.setdefault("HTTPValidationError", validation_error_response_definition)
    for name, definition in definitions.get("$defs", {}).items():
        components.setdefault(name, definition)
    paths = schema.setdefault("paths", {})
    for route in plain:
        paths.setdefault(route.path_format, {})[route.method.lower()] = _operation(route, refs)
    encoded: dict[str, Any] = jsonable_encoder(OpenAPI(**schema), by_alias=True, exclude_none=True)
    return encoded


def _operation(route: PlainRoute[Any, Any], refs: dict[Any, Any]) -> dict[str, Any]:
    parameters = []
    for where in ("path", "header"):
        model = route.part(where)
        if model is None:
            continue
        properties = model.model_json_schema()["properties"]
        for name, field in model.model_fields.items():
            key = field.alias or name
            parameters.append(
                {
                    "name": key,
                    "in": where,
                    "required": field.is_required(),
                    "schema": properties[key],
                    "description": field.description,
                }
            )
    ok = {
        "description": "Successful Response",
        "content": {"application/json": {"schema": refs[(route.response, "serialization")]}},
    }
    operation: dict[str, Any] = {
        # Summary and operation id as FastAPI derives them from the endpoint's name (fastapi/utils.py).
        "summary": route.name.replace("_", " ").title(),
        "operationId": re.sub(r"\W", "_", f"{route.name}{route.path_format}") + f"_{route.method.lower()}",
        "security": [{"HTTPBearer": []}],  # the bearer scheme the other routes declare (deps.bearer)
        "responses": {
            str(route.status_code): ok,
            **{str(code): {"description": text} for code, text in route.responses.items()},
        },
    }
    if route.handler.__doc__:
        operation["description"] = inspect.cleandoc(route.handler.__doc__)
    if route.tags:
        operation["tags"] = route.tags
    if parameters:
        operation["parameters"] = parameters
    body = route.part("body")
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(body, "validation")]}},
        }
    if parameters or body is not None:
        operation["responses"]["422"] = {
            "description": "Validation Error",
            "content": {
                "application/json": {"schema": {"$ref": _REF_TEMPLATE.format(model="HTTPValidationError")}}
            },
        }
    return operation
