"""The model a job starts from, as the collector can tell it before a worker loads anything: whose
per-base-model defaults the job gets (services/domain/job_params/presets.py), and whether a
generate_comparisons job would compare a policy with itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.core.enums import JobKind, ModelKind
from services.core.errors import InvalidInputError
from services.core.orm import ModelVersion
from services.core.settings import get_settings
from services.domain.job_params import ClassifierParams, RewardModelParams


def defaults_base_model(
    session: Session, kind: str, base_model: str | None, params: Mapping[str, Any]
) -> str:
    """The base model whose defaults a job gets (services/domain/job_params/presets.py): the model it starts
    from, as training_jobs/checkpoints.policy_source picks it, traced back through the versions trained from
    it to the base model at the root."""
    if kind == JobKind.REWARD_MODEL:
        return base_model or RewardModelParams.DEFAULT_BASE_MODEL
    if kind == JobKind.CLASSIFIER:
        return base_model or ClassifierParams.DEFAULT_BASE_MODEL
    version: ModelVersion | None
    if params.get("policy_version_id") is not None:
        version = session.get(ModelVersion, params["policy_version_id"])
    elif base_model is not None:
        return base_model
    else:
        version = session.scalar(
            select(ModelVersion).where(ModelVersion.kind == ModelKind.POLICY, ModelVersion.promoted)
        )
    seen: set[int] = set()
    while version is not None and version.id not in seen:
        seen.add(version.id)
        parent = session.scalar(select(ModelVersion).where(ModelVersion.name == version.base_model))
        if parent is None:
            return version.base_model
        version = parent
    return get_settings().policy_model


def check_self_comparison(session: Session, params: Mapping[str, Any], base_model: str | None) -> None:
    """generate_comparisons: response A's policy defaults to the promoted one; B naming it compares it with
    itself (GenerateComparisonsParams.check refuses the cases its params alone show)."""
    other = params.get("other_policy_version_id")
    if other is not None and not params.get("allow_self_comparison") and "policy_version_id" not in params:
        promoted = session.scalar(
            select(ModelVersion.id).where(ModelVersion.kind == ModelKind.POLICY, ModelVersion.promoted)
        )
        if promoted == other and base_model is None:
            raise InvalidInputError(
                "params.other_policy_version_id is the promoted policy, which also writes response A (no "
                "policy_version_id or base_model given): a policy compared with itself; set "
                "params.allow_self_comparison to true to do that on purpose"
            )
