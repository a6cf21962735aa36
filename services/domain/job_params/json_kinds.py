"""The JSON kinds of a value ("int", "float", "str", "bool", "list", "dict", "null") and of a type annotation:
the language job params are checked in, and the generated table of TRL fields (trl_fields.py) is written in."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any


def kinds_of(annotation: Any) -> tuple[str, ...]:
    """The JSON kinds a dataclass field's annotation accepts; () when no JSON value fits (a Python object)."""
    if annotation is Any or annotation is typing.Any:
        return ("any",)
    if annotation is type(None) or annotation is None:
        return ("null",)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        found: list[str] = []
        for arg in typing.get_args(annotation):
            found.extend(kind for kind in kinds_of(arg) if kind not in found)
        return tuple(sorted(found))
    if origin is typing.Literal:
        return tuple(sorted({kind_of_value(value) for value in typing.get_args(annotation)}))
    base = origin or annotation
    if not isinstance(base, type):
        return ("any",)
    if issubclass(base, bool):
        return ("bool",)
    if issubclass(base, Enum) or issubclass(base, str | Path):
        return ("str",)
    if issubclass(base, int):
        return ("int",)
    if issubclass(base, float):
        return ("float",)
    if issubclass(base, Mapping) or dataclasses.is_dataclass(base):
        return ("dict",)
    if issubclass(base, list | tuple | set):
        return ("list",)
    return ()


def kind_of_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str | Enum):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return "any"


def value_fits(kinds: tuple[str, ...], value: Any) -> bool:
    """Whether a JSON value is one of `kinds`; an int is a valid float (JSON has one number type)."""
    kind = kind_of_value(value)
    return "any" in kinds or kind in kinds or (kind == "int" and "float" in kinds)


def describe(kinds: tuple[str, ...]) -> str:
    return " or ".join(kinds) if kinds else "not settable through params"
