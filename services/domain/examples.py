"""Examples: the rows of prompt, demonstration and labelled datasets (preference datasets hold comparisons).

A prompt dataset's rows are prompts with an optional reference answer; a demonstration dataset's, prompts with
a completion; a labelled dataset's, a text (stored as a prompt) with a label (a string, an integer or a bool).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.core.enums import DatasetKind
from services.core.errors import InvalidInputError
from services.core.orm import Dataset, Example
from services.domain.limits import check_json, check_text
from services.domain.prompts import PromptValue, check_prompt, prompt_ids

Label = str | int | bool


@dataclass(frozen=True)
class NewExample:
    prompt: PromptValue
    completion: str | None = None
    reference: str | None = None
    label: Label | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> DatasetKind:
        """The kind of dataset this row belongs in."""
        if self.label is not None:
            return DatasetKind.LABELLED
        if self.completion is not None:
            return DatasetKind.DEMONSTRATION
        return DatasetKind.PROMPT


def check(item: NewExample, *, where: str = "") -> None:
    """Refuse a row PostgreSQL cannot store or that breaks a size limit; `where` prefixes the message."""
    check_prompt(item.prompt, f"{where}prompt")
    for name in ("completion", "reference"):
        value = getattr(item, name)
        if value is not None:
            check_text(f"{where}{name}", value)
    if isinstance(item.label, str):
        check_text(f"{where}label", item.label)
    elif item.label is not None and not isinstance(item.label, int):
        raise InvalidInputError(f"{where}label must be a string, an integer or a boolean")
    check_json(f"{where}metadata", item.metadata)


def insert_batch(
    session: Session, dataset: Dataset, items: Sequence[NewExample], *, dedupe: bool = False
) -> int:
    """Insert already-checked rows without committing; the number stored. `dedupe` leaves out a row equal to
    one the dataset holds or to an earlier one of `items` (the caller serialises deduplicating writers)."""
    if not items:
        return 0
    prompts = prompt_ids(session, [item.prompt for item in items])
    keys = [_key(prompt_id, item) for prompt_id, item in zip(prompts, items, strict=True)]
    seen: set[tuple[Any, ...]] = set()
    if dedupe:
        stored = session.execute(
            select(Example.prompt_id, Example.completion, Example.reference, Example.label).where(
                Example.dataset_id == dataset.id, Example.prompt_id.in_(set(prompts))
            )
        )
        seen = {(p, c, r, json.dumps(label)) for p, c, r, label in stored.tuples()}
    rows = []
    for key, prompt_id, item in zip(keys, prompts, items, strict=True):
        if dedupe and key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "dataset_id": dataset.id,
                "prompt_id": prompt_id,
                "completion": item.completion,
                "reference": item.reference,
                "label": item.label,
                "metadata_": item.metadata,
            }
        )
    if rows:
        session.execute(insert(Example), rows)
    return len(rows)


def _key(prompt_id: int, item: NewExample) -> tuple[Any, ...]:
    # json.dumps keeps 1 and true apart, as JSONB does
    return (prompt_id, item.completion, item.reference, json.dumps(item.label))


def label_name(label: Label) -> str:
    """A label as a classifier's id2label names it: the string itself, an integer's digits, `true`/`false`."""
    if isinstance(label, bool):
        return "true" if label else "false"
    return str(label)


def label_names(session: Session, dataset_id: int) -> list[str]:
    """The distinct labels of a labelled dataset as id2label names, in a stable order (numbers by value, then
    the rest alphabetically): a classifier's output i is label i of this list."""
    values = session.scalars(
        select(Example.label).where(Example.dataset_id == dataset_id, Example.label.is_not(None)).distinct()
    ).all()
    return sorted_label_names(values)


def sorted_label_names(values: Sequence[Label]) -> list[str]:
    names = {label_name(value) for value in values}
    numbers = sorted((name for name in names if _is_integer(name)), key=int)
    return numbers + sorted(names - set(numbers))


def _is_integer(name: str) -> bool:
    return name.lstrip("-").isdigit()
