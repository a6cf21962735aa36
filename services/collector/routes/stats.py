from typing import Annotated

from fastapi import APIRouter, Query

from services.collector.console_schemas import WinRatesPublic
from services.collector.deps import ReadDep, ReadOrTrainDep, SessionDep
from services.collector.params import IdPath
from services.collector.stats_schemas import StatsPublic, WinRatePublic
from services.core.enums import SourceFilter
from services.core.inputs import MAX_ID
from services.domain import model_versions, stats

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


@router.get("/win-rates")
def win_rates(
    session: SessionDep,
    _: ReadOrTrainDep,
    version_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> WinRatesPublic:
    """Each pair of policy versions judged head to head (generate_comparisons), over every dataset: win rate
    with its 95 % Wilson interval; only the pairs with version_id when given (404 for an unknown version)."""
    if version_id is not None:
        model_versions.get(session, version_id)
    rates = [
        WinRatePublic.model_validate(rate, from_attributes=True)
        for rate in stats.all_win_rates(session, version_id=version_id)
    ]
    return WinRatesPublic(data=rates, count=len(rates))
