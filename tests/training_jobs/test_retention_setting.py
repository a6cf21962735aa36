"""RLHF_KEEP_UNPROMOTED_VERSIONS: after a job that made a version, the worker deletes the unpromoted versions of
that kind and base model past the newest N (training_jobs/runner.py); N must be at least 1, or a new version
would be deleted as soon as it is made."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session

from services.core.artifacts import version_path
from services.core.enums import ModelKind
from services.core.settings import Settings
from tests.helpers.collector import unique
from tests.helpers.tiny_models import add_version
from training_jobs.runner import apply_retention


def test_the_worker_keeps_the_newest_unpromoted_versions_of_the_line(db: Session) -> None:
    versions = [add_version(db, kind=ModelKind.POLICY, seed=seed) for seed in (1, 2, 3)]
    other = add_version(db, kind=ModelKind.POLICY, seed=4)  # another base model: not counted, not touched
    base = unique("retention-line")
    for version in versions:
        version.base_model = base
    db.commit()

    apply_retention(kind=ModelKind.POLICY, base_model=base, keep=2)

    assert [version_path(v.path).is_dir() for v in versions] == [False, True, True]
    db.expire_all()
    assert db.get(type(other), other.id) is not None and version_path(other.path).is_dir()


def test_keeping_no_unpromoted_version_is_refused() -> None:
    with pytest.raises(ValidationError, match="keep_unpromoted_versions"):
        Settings(keep_unpromoted_versions=0)
