"""The admin's view of annotator quality on a dataset, and lifting a pause."""

from fastapi import APIRouter

from services.collector.deps import AdminDep, ReadDep, SessionDep
from services.collector.params import IdPath
from services.collector.quality_schemas import AnnotatorQualitiesPublic, AnnotatorQualityPublic
from services.domain import gold, quality

router = APIRouter(tags=["quality"])


def _qualities(session: SessionDep, dataset_id: int) -> AnnotatorQualitiesPublic:
    items = [
        AnnotatorQualityPublic.model_validate(item, from_attributes=True)
        for item in quality.annotator_quality(session, dataset_id)
    ]
    return AnnotatorQualitiesPublic(data=items, count=len(items))


@router.get("/datasets/{dataset_id}/annotators")
def annotator_quality(dataset_id: IdPath, session: SessionDep, _: ReadDep) -> AnnotatorQualitiesPublic:
    """Per annotator: gold accuracy (95 % interval), majority agreement, server-side time per judgement,
    position bias, trust, and whether they are paused or flagged as too fast."""
    return _qualities(session, dataset_id)


@router.post("/datasets/{dataset_id}/annotators/{annotator_id}/unpause")
def lift_pause(
    dataset_id: IdPath, annotator_id: IdPath, session: SessionDep, _: AdminDep
) -> AnnotatorQualitiesPublic:
    """Let a paused annotator work on the dataset again (gold answers count afresh); 409 if not paused."""
    gold.lift_pause(session, dataset_id, annotator_id)
    return _qualities(session, dataset_id)
