"""Checks that every text and JSON value passes before it reaches PostgreSQL.

PostgreSQL refuses NUL characters in text, lone UTF-16 surrogates (which JSON can encode) and NaN in
JSONB; catching them here turns what would be a driver error (a 500) into a clear 4xx naming the field.
"""

from __future__ import annotations

import math
from typing import Any

from services.core.errors import InvalidInputError, PayloadTooLargeError
from services.core.settings import get_settings


def check_text(field: str, value: str) -> None:
    """Refuse text PostgreSQL cannot store, or longer than `max_text_bytes` in UTF-8."""
    limit = get_settings().max_text_bytes
    # Four bytes per character at most: short strings skip the encoding check's size test.
    if len(value) > limit:
        raise PayloadTooLargeError(f"{field} is longer than {limit} bytes")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInputError(f"{field} is not valid Unicode (lone surrogate)") from None
    if size > limit:
        raise PayloadTooLargeError(f"{field} is longer than {limit} bytes ({size})")
    if "\x00" in value:
        raise InvalidInputError(f"{field} contains a NUL character")


def check_json(field: str, value: Any) -> None:
    """Refuse a JSON value that JSONB cannot store (NUL, lone surrogates, NaN/Infinity) or that is too big."""
    budget = [get_settings().max_text_bytes]

    def walk(node: Any) -> None:
        if isinstance(node, str):
            check_text(field, node)
            budget[0] -= len(node)
        elif isinstance(node, bool) or node is None or isinstance(node, int):
            budget[0] -= 8
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise InvalidInputError(f"{field} contains a non-finite number")
            budget[0] -= 8
        elif isinstance(node, dict):
            for key, item in node.items():
                if not isinstance(key, str):
                    raise InvalidInputError(f"{field} keys must be strings")
                walk(key)
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        else:
            raise InvalidInputError(f"{field} is not JSON")
        if budget[0] < 0:
            raise PayloadTooLargeError(f"{field} is larger than {get_settings().max_text_bytes} bytes")

    walk(value)
