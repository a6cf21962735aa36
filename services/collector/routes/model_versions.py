from fastapi import APIRouter

from services.collector.deps import ReadOrTrainDep, SessionDep, TrainDep
from services.collector.params import IdPath
from services.collector.schemas import ModelVersionPublic, ModelVersionsPublic
from services.core.enums import ModelKind
from services.domain import model_versions

router = APIRouter(tags=["models"])


@router.get("/models")
def list_models(session: SessionDep, _: ReadOrTrainDep, kind: ModelKind | None = None) -> ModelVersionsPublic:
    """Model versions, newest first, with their kind, base model, metrics and promoted flag."""
    rows = model_versions.list_versions(session, kind=kind)
    return ModelVersionsPublic(data=[ModelVersionPublic.model_validate(v) for v in rows], count=len(rows))


@router.get("/models/{version_id}")
def get_model(version_id: IdPath, session: SessionDep, _: ReadOrTrainDep) -> ModelVersionPublic:
    """One model version."""
    return ModelVersionPublic.model_validate(model_versions.get(session, version_id))


@router.post("/models/{version_id}/promote")
def promote_model(version_id: IdPath, session: SessionDep, _: TrainDep) -> ModelVersionPublic:
    """Make this version the active model of its kind (the inference service loads it)."""
    return ModelVersionPublic.model_validate(model_versions.promote(session, version_id))
