"""StrictInput: NaN, infinities and lone surrogates refused in any field, nested JSON included; NUL where asked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ConfigDict, ValidationError

from services.core.inputs import StrictInput


class Body(StrictInput):
    model_config = ConfigDict(extra="allow")

    text: str = ""
    number: float = 0.0
    free: Any = None


class Stored(Body):
    refuse_nul = True


@pytest.mark.parametrize(
    ("raw", "where", "reason"),
    [
        ('{"number": NaN}', "number", "finite number"),
        ('{"number": -Infinity}', "number", "finite number"),
        ('{"free": {"a": [1, {"b": Infinity}]}}', "free", "finite number"),
        ('{"text": "a\\ud800b"}', "text", "lone surrogate"),
        ('{"free": {"\\udfff": 1}}', "free", "lone surrogate"),
        ('{"extra": ["\\ud83d"]}', "", "lone surrogate"),
    ],
)
def test_refused_anywhere_with_the_field_named(raw: str, where: str, reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Body.model_validate(json.loads(raw))

    (error,) = refused.value.errors()
    assert ".".join(str(part) for part in error["loc"]) == where
    assert reason in error["msg"]


def test_nul_refused_only_where_text_is_stored() -> None:
    body = {"text": "a\x00b", "free": ["\x00"]}

    assert Body.model_validate(body).text == "a\x00b"
    with pytest.raises(ValidationError, match="NUL"):
        Stored.model_validate(body)


def test_valid_unicode_and_large_numbers_pass() -> None:
    body = Body.model_validate(
        json.loads('{"text": "caf\\u00e9 \\ud83d\\ude00", "number": 1e308, "free": [10e29]}')
    )

    assert body.text == "café 😀" and body.number == 1e308
