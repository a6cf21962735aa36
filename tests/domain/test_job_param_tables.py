"""docs/job-params.md carries every job kind's parameter table as the code declares it today."""

from __future__ import annotations

from services.core.enums import JobKind
from services.domain.job_params import describe_kind
from services.domain.job_params.tables import DOC_PATH, current_section, markdown_tables


def test_the_job_param_tables_in_the_docs_are_current() -> None:
    assert current_section(DOC_PATH.read_text()) == markdown_tables(), (
        "docs/job-params.md is out of date: python -m services.domain.job_params.tables --write"
    )


def test_every_kind_and_parameter_has_a_row() -> None:
    tables = markdown_tables()
    for kind in JobKind:
        assert f"### `{kind.value}`" in tables
        for param in describe_kind(kind).params:
            assert f"| `{param.name}` |" in tables
