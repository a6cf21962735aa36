"""The ORM (services/core/orm.py) and the migrations agree: a database migrated to head has exactly the tables,
columns, types, indexes and keys the ORM declares, and its CHECK constraints allow exactly the enums' values."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from services.core.db import get_engine
from services.core.enums import (
    JUDGEMENTS,
    AnnotatorRole,
    ApiKeyScope,
    Choice,
    DatasetKind,
    JobKind,
    JobStatus,
    ModelKind,
    PreferenceSource,
    Sampling,
    Side,
)
from services.core.orm import Base


def test_migrated_database_matches_the_orm_metadata():
    with get_engine().connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        differences = compare_metadata(context, Base.metadata)

    assert differences == [], "the ORM and the migrations disagree: write a migration (alembic autogenerate)"


@pytest.mark.parametrize(
    ("constraint", "enum"),
    [
        ("annotator_role_ck", AnnotatorRole),
        ("dataset_kind_ck", DatasetKind),
        ("preference_choice_ck", Choice),
        ("preference_shown_left_ck", Side),
        ("model_version_kind_ck", ModelKind),
        ("job_kind_ck", JobKind),
        ("job_status_ck", JobStatus),
        ("api_key_scopes_ck", ApiKeyScope),
        ("dataset_sampling_ck", Sampling),
        ("comparison_gold_ck", JUDGEMENTS),
        ("preference_source_ck", PreferenceSource),
    ],
)
def test_check_constraint_allows_exactly_the_enum_values(
    constraint: str, enum: type[StrEnum] | tuple[StrEnum, ...]
):
    # Alembic does not compare CHECK constraints: a value added to an enum needs a migration that this catches.
    with get_engine().connect() as connection:
        definition = connection.execute(
            text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name"),
            {"name": constraint},
        ).scalar_one()

    assert set(re.findall(r"'([^']*)'", definition)) == {str(value) for value in enum}
