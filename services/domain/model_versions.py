"""Model versions: trained models in the artifact store, one row each; one promoted version per kind.

A version is named "<kind>-<id>" ("reward-7", "policy-12"): readable, unique, and the same string is its
directory under RLHF_ARTIFACT_DIR. The inference service answers with it as "model".
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from services.core.artifacts import CURVES_FILE, version_path
from services.core.enums import ModelKind
from services.core.errors import ConflictError, InvalidInputError, NotFoundError
from services.core.orm import ModelVersion
from services.domain import jobs


def version_name(kind: str, version_id: int) -> str:
    return f"{kind}-{version_id}"


def reserve_id(session: Session) -> int:
    """A fresh model_version id, taken before the artifact is written so that its directory has its name."""
    return int(session.scalar(text("SELECT nextval(pg_get_serial_sequence('model_version', 'id'))")))


def get(session: Session, version_id: int) -> ModelVersion:
    version = session.get(ModelVersion, version_id)
    if version is None:
        raise NotFoundError(f"model version {version_id} not found")
    return version


def list_versions(session: Session, *, kind: str | None = None) -> list[ModelVersion]:
    """Newest first."""
    if kind is not None and kind not in list(ModelKind):
        raise InvalidInputError(f"kind must be one of {', '.join(ModelKind)}")
    query = select(ModelVersion).order_by(ModelVersion.id.desc())
    if kind is not None:
        query = query.where(ModelVersion.kind == kind)
    return list(session.scalars(query))


def promoted(session: Session, kind: str) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.kind == kind, ModelVersion.promoted))


def promote(session: Session, version_id: int) -> ModelVersion:
    """Make this version the active one of its kind (and the previous one inactive), in one transaction."""
    version = get(session, version_id)
    # Two promotions of one kind at once would trip the partial unique index: take turns instead.
    session.execute(
        text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(f"promote:{version.kind}".encode())}
    )
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.kind == version.kind, ModelVersion.promoted, ModelVersion.id != version.id)
        .values(promoted=False)
    )
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.id == version.id, ModelVersion.promoted.is_(False))
        .values(promoted=True, promoted_at=func.now())
    )
    session.commit()
    session.refresh(version)
    return version


def curves_path(session: Session, version_id: int) -> Path:
    """The training curves PNG the worker drew into the version's artifact directory."""
    version = get(session, version_id)
    path = version_path(version.path) / CURVES_FILE
    if not path.is_file():
        raise NotFoundError(f"{version.name} has no training curves ({CURVES_FILE} is not in its artifacts)")
    return path


def unpromote(session: Session, version_id: int) -> ModelVersion:
    """Stop serving this version: with no promoted policy the inference service serves the default
    (RLHF_POLICY_MODEL); with no promoted reward model /reward answers 503."""
    version = get(session, version_id)
    if not version.promoted:
        raise ConflictError(f"{version.name} is not promoted")
    session.execute(update(ModelVersion).where(ModelVersion.id == version.id).values(promoted=False))
    session.commit()
    session.refresh(version)
    return version


def create_for_job(
    session: Session,
    *,
    version_id: int,
    job_id: int,
    kind: str,
    base_model: str,
    path: str,
    metrics: dict[str, Any],
    params: dict[str, Any],
    data_snapshot: dict[str, Any],
    log_tail: str,
    attempt: int | None = None,
) -> ModelVersion | None:
    """Store the version and mark its job succeeded, in one transaction.

    None (nothing stored) when the job is no longer running (this attempt, when given): it was cancelled
    or its worker declared dead meanwhile.
    """
    version = ModelVersion(
        id=version_id,
        name=version_name(kind, version_id),
        kind=kind,
        base_model=base_model,
        job_id=job_id,
        path=path,
        metrics=metrics,
        params=params,
        data_snapshot=data_snapshot,
    )
    session.add(version)
    session.flush()
    if not jobs.mark_succeeded(
        session, job_id, metrics=metrics, log_tail=log_tail, model_version_id=version_id, attempt=attempt
    ):
        session.rollback()
        return None
    session.commit()
    return version
