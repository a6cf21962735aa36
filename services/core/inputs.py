"""The one rule every JSON request body of both services obeys, whatever its fields: no NaN or infinities
(Python's JSON parser accepts them), no lone UTF-16 surrogates (JSON can escape them, but no UTF-8 text
holds them: tokenizers, PostgreSQL and the JSON of an error that echoes them all fail), and, for bodies bound
for PostgreSQL, no NUL characters (PostgreSQL refuses them in text and JSONB).

Request models inherit `StrictInput`; every field is checked, free-form JSON (job params, metadata, a chat
message's parts) to the bottom, and the refusal is a validation error naming the field: each service's 4xx.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

_SURROGATE = re.compile("[\ud800-\udfff]")
# PostgreSQL's bigint: ids (and offsets) beyond it are refused at the boundary rather than by the driver.
MAX_ID = 2**63 - 1


def refusal(value: Any, *, nul: bool) -> str | None:
    """Why `value` (a field's value, nested JSON included) is refused, or None when it is fine."""
    if isinstance(value, str):
        if not value.isascii() and _SURROGATE.search(value):
            return "contains a lone surrogate (text must be valid Unicode)"
        if nul and "\x00" in value:
            return "contains a NUL character"
    elif isinstance(value, float):
        if not math.isfinite(value):
            return "must be a finite number (not NaN or Infinity)"
    elif isinstance(value, dict):
        for key, item in value.items():
            reason = refusal(key, nul=nul) or refusal(item, nul=nul)
            if reason:
                return reason
    elif isinstance(value, list | tuple):
        for item in value:
            reason = refusal(item, nul=nul)
            if reason:
                return reason
    return None  # numbers, booleans, None, enums, times, nested models (which checked themselves)


class StrictInput(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)
    # Bodies whose text is stored (the collector's) refuse NUL; the inference service's need not.
    refuse_nul: ClassVar[bool] = False

    @field_validator("*", mode="after")
    @classmethod
    def _valid_json_value(cls, value: Any) -> Any:
        reason = refusal(value, nul=cls.refuse_nul)
        if reason:
            raise ValueError(reason)
        return value

    @model_validator(mode="after")
    def _valid_extra_values(self) -> Self:
        # Keys a model keeps without declaring them (extra="allow") are not fields: checked here.
        reason = refusal(self.model_extra or {}, nul=self.refuse_nul)
        if reason:
            raise ValueError(reason)
        return self
