"""Registering an existing checkpoint as a reward version (`POST /api/v1/models`, `rlhf models register`).

A sequence classifier trained elsewhere (a sentiment model, a safety classifier) becomes a reward version: its
folder (on the server, a Hugging Face id's snapshot, or an uploaded archive unpacked: model_sources.py) is
checked (config.json names a *ForSequenceClassification architecture; the label asked for is in its
id2label), copied into the artifact store under the version's name, and the version's `params.scoring` says
which label's logit, log-probability or probability is the reward and whether the model reads the response
alone or the prompt with it (services/modeling/scoring.py's ScoreHead reads it back).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from services.core.artifacts import new_version_dir, version_path
from services.core.enums import ModelKind, ScoreInput, ScoreTransform
from services.core.errors import InvalidInputError
from services.core.orm import ModelVersion
from services.domain import model_sources, model_versions


def read_config(source: Path) -> dict[str, Any]:
    if not source.is_dir():
        raise InvalidInputError(f"source {str(source)!r} is not a folder on the server")
    try:
        config = json.loads((source / "config.json").read_text())
    except FileNotFoundError as error:
        raise InvalidInputError(
            f"source {str(source)!r} has no config.json: not a Hugging Face model"
        ) from error
    except (OSError, ValueError) as error:
        raise InvalidInputError(f"cannot read {source / 'config.json'}: {error}") from error
    if not isinstance(config, dict):
        raise InvalidInputError(f"{source / 'config.json'} is not a JSON object")
    return config


def label_index(config: dict[str, Any], label: str | int) -> tuple[int, str]:
    """(index, name) of the label asked for, by its id2label name or its index."""
    id2label = config.get("id2label") or {
        str(i): f"LABEL_{i}" for i in range(int(config.get("num_labels", 1)))
    }
    labels = {int(index): str(name) for index, name in id2label.items()}
    if isinstance(label, int):
        if label not in labels:
            raise InvalidInputError(f"label {label} is not an index of this model's labels {labels}")
        return label, labels[label]
    matches = [index for index, name in labels.items() if name == label]
    if not matches and label.isdigit() and int(label) in labels:  # a form field's index arrives as text
        return int(label), labels[int(label)]
    if not matches:
        raise InvalidInputError(f"label {label!r} is not in this model's id2label {labels}")
    return matches[0], label


def register_reward(
    session: Session, *, source: str, label: str | int, transform: ScoreTransform, reads: ScoreInput
) -> ModelVersion:
    """A new reward version from a classifier folder on the server or a Hugging Face id in the server's cache
    (services/domain/model_sources.py); nothing is written when it is refused."""
    folder, hub_id = model_sources.resolve_source(source)
    return register_folder(
        session, folder=folder, origin=hub_id or str(folder), label=label, transform=transform, reads=reads
    )


def register_folder(
    session: Session,
    *,
    folder: Path,
    origin: str,
    label: str | int,
    transform: ScoreTransform,
    reads: ScoreInput,
) -> ModelVersion:
    """A new reward version from a classifier folder (`origin`: what the version records as its source)."""
    config = read_config(folder)
    architectures = config.get("architectures") or []
    if not any(str(name).endswith("ForSequenceClassification") for name in architectures):
        raise InvalidInputError(
            f"config.json names the architectures {architectures}; a reward model is a *ForSequenceClassification"
        )
    index, name = label_index(config, label)
    if len(config.get("id2label") or {"0": None}) == 1 and transform != ScoreTransform.LOGIT:
        raise InvalidInputError(f"a one-label model's score is its logit; its {transform} is constant")
    version_id = model_versions.reserve_id(session)
    version_name = model_versions.version_name(ModelKind.REWARD, version_id)
    with new_version_dir(version_name) as staged:
        shutil.copytree(folder, staged, dirs_exist_ok=True)  # a hub snapshot's links become files
    version = ModelVersion(
        id=version_id,
        name=version_name,
        kind=ModelKind.REWARD,
        base_model=origin,
        path=version_name,
        params={
            "source": origin,
            "scoring": {"label": name, "label_index": index, "transform": transform, "input": reads},
        },
    )
    session.add(version)
    try:
        session.commit()
    except BaseException:
        shutil.rmtree(version_path(version_name), ignore_errors=True)  # no row, no folder
        raise
    return version
