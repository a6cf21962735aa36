"""The import parsers on their own: TRL types told apart by keys, implicit prompts split as TRL's
extract_prompt splits them, and the documented example lines."""

from __future__ import annotations

import json

import pytest
from trl import extract_prompt

from services.core.enums import DatasetKind, ImportFormat
from services.domain.import_formats import EXAMPLES, PARSERS, KnownPair, parse_trl, row_kind
from tests.helpers.paths import REPO_ROOT


@pytest.mark.parametrize(
    "row",
    [
        {"chosen": "The sky is blue.", "rejected": "The sky is green."},
        {"chosen": "Answer: yes", "rejected": "Answer: no"},
        {
            "chosen": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
            "rejected": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "B"}],
        },
    ],
)
def test_implicit_prompt_is_split_as_trl_splits_it(row: dict) -> None:
    (pair,) = parse_trl(row)
    assert isinstance(pair, KnownPair)
    expected = extract_prompt(row)
    assert pair.prompt == expected["prompt"]
    if isinstance(pair.prompt, str):
        assert (pair.chosen, pair.rejected) == (expected["chosen"], expected["rejected"])
    else:
        assert [{"role": "assistant", "content": pair.chosen}] == expected["chosen"]


def test_types_are_told_apart_by_keys() -> None:
    kinds = {
        json.dumps(row): row_kind(next(parse_trl(row)))
        for row in (
            {"prompt": "p", "chosen": "a", "rejected": "b", "margin": 0.5},
            {"prompt": "p", "completion": "c"},
            {"prompt": "p", "reference": "r"},
        )
    }
    assert list(kinds.values()) == [DatasetKind.PREFERENCE, DatasetKind.DEMONSTRATION, DatasetKind.PROMPT]


def test_every_example_line_parses_and_is_documented() -> None:
    documented = (REPO_ROOT / "docs" / "data-formats.md").read_text()
    for name, line in EXAMPLES.items():
        rows = list(PARSERS[ImportFormat(name.split()[0])](json.loads(line)))
        assert rows, name
        assert f"`{line}`" in documented, name
