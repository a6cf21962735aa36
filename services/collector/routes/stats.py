from fastapi import APIRouter

from services.collector.deps import ReadDep, SessionDep
from services.collector.params import IdPath
from services.collector.stats_schemas import StatsPublic
from services.core.enums import SourceFilter
from services.domain import stats

router = APIRouter(tags=["stats"])


@router.get("/datasets/{dataset_id}/stats")
def dataset_stats(
    dataset_id: IdPath, session: SessionDep, _: ReadDep, source: SourceFilter = SourceFilter.HUMAN
) -> StatsPublic:
    """Counts, per-annotator work, votes per comparison, agreement, policy win rates (choices, annotators,
    agreement and win rates over the votes of `source`), and each AI judge's agreement with people."""
    return StatsPublic.model_validate(
        stats.dataset_stats(session, dataset_id, source=source), from_attributes=True
    )
