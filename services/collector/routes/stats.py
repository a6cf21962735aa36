from fastapi import APIRouter

from services.collector.deps import ReadDep, SessionDep
from services.collector.params import IdPath
from services.collector.schemas import StatsPublic
from services.domain import stats

router = APIRouter(tags=["stats"])


@router.get("/datasets/{dataset_id}/stats")
def dataset_stats(dataset_id: IdPath, session: SessionDep, _: ReadDep) -> StatsPublic:
    """Counts, per-annotator work, votes per comparison, agreement and policy win rates."""
    return StatsPublic.model_validate(stats.dataset_stats(session, dataset_id), from_attributes=True)
