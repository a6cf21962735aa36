"""Hostile requests built from a service's OpenAPI document: into every string field (body, path, query) a lone
surrogate and a NUL, into every integer or number field 10^30 and NaN, into free-form JSON all but 10^30.

Each request is otherwise valid (required fields filled from the schema, ids and names from `known`), so a
bad value the service lets through reaches its domain and database, where a missed check shows up as a 5xx
or a written row. Bodies go out as raw JSON (`json.dumps` writes NaN and escapes a lone surrogate as
`\\ud800`), the way a hostile client would send them.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

SURROGATE = "a\ud800b"
NUL = "a\x00b"
HUGE = 10**30
NAN = float("nan")
BAD_STRINGS = {"surrogate": SURROGATE, "nul": NUL}
BAD_NUMBERS = {"huge": HUGE, "nan": NAN}
# Free-form JSON (job params, metadata): 10^30 is a number JSON may hold, so only what no JSON value may be.
BAD_ANY = BAD_STRINGS | {"nan": NAN}
# The same in a URL: a surrogate has no UTF-8 form, so its CESU bytes stand in for it.
BAD_URL_VALUES = {"surrogate": "a%ED%A0%80b", "nul": "a%00b", "huge": str(HUGE), "nan": "NaN"}


@dataclass
class FuzzRequest:
    name: str  # operation, where and what: "POST /datasets body.name=nul"
    method: str
    path: str  # operation path, for choosing the client
    url: str  # with its path and query parameters, percent-encoded
    content: bytes | None = None


class _Schemas:
    def __init__(self, document: dict[str, Any], known: dict[str, Any]) -> None:
        self.components = document.get("components", {}).get("schemas", {})
        self.known = known

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[1]]
        options = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
        if options:
            concrete = [option for option in options if self.resolve(option).get("type") != "null"]
            return self.resolve(concrete[0]) if concrete else {"type": "null"}
        return schema

    def example(self, schema: dict[str, Any], name: str | None = None) -> Any:
        """A valid value: the known one for this name, else one that meets the schema's bounds."""
        if name in self.known:
            return self.known[name]
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "object":
            properties = schema.get("properties", {})
            return {key: self.example(properties[key], key) for key in schema.get("required", [])}
        if kind == "array":
            return [self.example(schema.get("items", {}))] * max(schema.get("minItems", 1), 1)
        if kind == "string":
            if schema.get("format") == "date-time":
                return "2999-01-01T00:00:00Z"
            return f"fuzz-{uuid.uuid4().hex[:8]}"  # unique: a taken name must not hide the bad value
        if kind in ("integer", "number"):
            low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
            return max(low, min(1, schema.get("maximum", 1)))
        if kind == "boolean":
            return False
        return "x"

    def leaves(
        self, schema: dict[str, Any], path: tuple[Any, ...] = ()
    ) -> Iterator[tuple[tuple[Any, ...], str]]:
        """(path, kind) of every value the schema takes: string, number or any (free-form JSON)."""
        if len(path) > 6:
            return
        schema = self.resolve(schema)
        kind = schema.get("type")
        if "enum" in schema or kind == "string":
            yield path, "string"
        elif kind in ("integer", "number"):
            yield path, "number"
        elif kind == "array":
            yield from self.leaves(schema.get("items", {}), (*path, 0))
        elif kind == "object" and schema.get("properties"):
            for key, child in schema["properties"].items():
                yield from self.leaves(child, (*path, key))
            if schema.get("additionalProperties") is True:
                yield (*path, "fuzz_extra"), "any"
        elif kind in ("object", None):
            yield path, "any"
            yield (*path, "fuzz_key"), "any"


def _set(body: Any, schemas: _Schemas, schema: dict[str, Any], path: tuple[Any, ...], value: Any) -> Any:
    """`body` with `value` at `path`, building the containers on the way from the schema."""
    if not path:
        return value
    schema = schemas.resolve(schema)
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = schema.get("items", {})
        listed = list(body) if isinstance(body, list) and body else [schemas.example(items)]
        listed[0] = _set(listed[0], schemas, items, rest, value)
        return listed
    child = schema.get("properties", {}).get(head, {})
    mapping = dict(body) if isinstance(body, dict) else {}
    mapping[head] = _set(mapping.get(head, schemas.example(child, head)), schemas, child, rest, value)
    return mapping


def _bad_values(kind: str) -> dict[str, Any]:
    values: dict[str, dict[str, Any]] = {"string": BAD_STRINGS, "number": BAD_NUMBERS, "any": BAD_ANY}
    return values[kind]


def fuzz_requests(document: dict[str, Any], known: dict[str, Any]) -> Iterator[FuzzRequest]:
    """Every hostile request for every operation of `document`; `known` gives valid values by name
    (path parameters such as `dataset_id`, body fields such as `max_new_tokens`)."""
    schemas = _Schemas(document, known)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield from _Operation(schemas, method.upper(), path, operation).requests()


class _Operation:
    def __init__(self, schemas: _Schemas, method: str, path: str, operation: dict[str, Any]) -> None:
        self.schemas = schemas
        self.method = method
        self.path = path
        self.parameters = [p for p in operation.get("parameters", []) if p["in"] in ("path", "query")]
        content = operation.get("requestBody", {}).get("content", {})
        self.body_schema: dict[str, Any] | None = content.get("application/json", {}).get("schema")

    def requests(self) -> Iterator[FuzzRequest]:
        good = {
            p["name"]: quote(str(self.schemas.example(p["schema"], p["name"])), safe="")
            for p in self.parameters
        }
        for p in self.parameters:
            # Whatever its type, a URL parameter arrives as text: each gets all four.
            for label, value in BAD_URL_VALUES.items():
                yield self.request(f"{p['in']}.{p['name']}={label}", good | {p["name"]: value}, self.body())
        if self.body_schema is None:
            return
        for leaf, kind in self.schemas.leaves(self.body_schema):
            for label, value in _bad_values(kind).items():
                body = _set(self.body(), self.schemas, self.body_schema, leaf, copy.deepcopy(value))
                where = ".".join(str(part) for part in leaf)
                yield self.request(f"body.{where}={label}", good, body)

    def body(self) -> Any:
        return None if self.body_schema is None else self.schemas.example(self.body_schema)

    def request(self, label: str, values: dict[str, str], body: Any) -> FuzzRequest:
        url = self.path
        for p in self.parameters:
            if p["in"] == "path":
                url = url.replace("{" + p["name"] + "}", values[p["name"]])
        query = "&".join(f"{p['name']}={values[p['name']]}" for p in self.parameters if p["in"] == "query")
        return FuzzRequest(
            name=f"{self.method} {self.path} {label}",
            method=self.method,
            path=self.path,
            url=f"{url}?{query}" if query else url,
            content=None if body is None else json.dumps(body).encode(),
        )
