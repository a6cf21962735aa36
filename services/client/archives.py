"""A model folder as a tar.gz archive, for POST /api/v1/models/upload."""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def folder_archive(folder: Path) -> Iterator[tuple[str, IO[bytes]]]:
    """(the archive's file name, the archive in a temporary file) of `folder`, under one top-level folder."""
    top = folder.resolve().name or "model"
    with tempfile.TemporaryFile() as archive:
        # dereference: links (a Hugging Face cache's snapshot is made of them) go in as the files they name
        with tarfile.open(fileobj=archive, mode="w:gz", dereference=True) as bundle:
            bundle.add(folder, arcname=top)
        archive.seek(0)
        yield f"{top}.tar.gz", archive
