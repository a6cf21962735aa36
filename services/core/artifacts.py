"""The artifact store: one directory per model version under RLHF_ARTIFACT_DIR, written atomically."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.core.settings import get_settings

# The training curves the worker draws into each version's directory (training_jobs/runner.py).
CURVES_FILE = "training_curves.png"


def artifact_root() -> Path:
    root = get_settings().resolved_artifact_dir
    root.mkdir(parents=True, exist_ok=True)
    return root


def version_path(relative_path: str) -> Path:
    """Where a model version's files are (model_version.path is relative to the artifact root)."""
    return artifact_root() / relative_path


@contextmanager
def new_version_dir(relative_path: str) -> Iterator[Path]:
    """Yield a private temporary directory; rename it to `relative_path` only if the block succeeds.

    Readers never see a half-written version: rename within one filesystem is atomic.
    """
    final = version_path(relative_path)
    if final.exists():
        raise FileExistsError(f"artifact {relative_path} already exists")
    temporary = artifact_root() / f".tmp-{uuid.uuid4().hex}"
    temporary.mkdir(parents=True)
    try:
        yield temporary
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary.rename(final)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)


def remove_version_dir(relative_path: str) -> None:
    """Delete a version's files: renamed aside first (one atomic step, so no reader sees half a version),
    then removed. A missing directory is fine: the files may have been removed by hand."""
    final = version_path(relative_path)
    if not final.exists():
        return
    trash = artifact_root() / f".trash-{uuid.uuid4().hex}"
    final.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)
