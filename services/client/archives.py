"""Registering a classifier folder on this machine as a reward version: sent to POST /api/v1/models/upload as
a tar.gz archive (`rlhf models register FOLDER --upload`)."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

from services.client.collector import API, CollectorClient
from services.collector.schemas import ModelVersionPublic
from services.core.enums import ScoreInput, ScoreTransform


def upload_reward(
    client: CollectorClient,
    folder: Path,
    *,
    label: str | int = 0,
    transform: ScoreTransform = ScoreTransform.LOGIT,
    reads: ScoreInput = ScoreInput.PROMPT_RESPONSE,
) -> ModelVersionPublic:
    """The new reward version; the archive holds the folder's files under one top-level folder."""
    top = folder.resolve().name or "model"
    form = {"kind": "reward", "label": str(label), "transform": str(transform), "input": str(reads)}
    with tempfile.TemporaryFile() as archive:
        # dereference: links (a Hugging Face cache's snapshot is made of them) go in as the files they name
        with tarfile.open(fileobj=archive, mode="w:gz", dereference=True) as bundle:
            bundle.add(folder, arcname=top)
        archive.seek(0)
        files = {"archive": (f"{top}.tar.gz", archive, "application/gzip")}
        return client._post(f"{API}/models/upload", ModelVersionPublic, files=files, data=form)
