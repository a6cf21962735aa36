"""The annotator's endpoints: me, next, preferences.

They run hundreds of times a second (the web form asks /me after every item), so they authenticate and do
their database work on the event loop, on one async connection of the pool (PoolDep): a worker thread per
request cost about a third of the collector's CPU in thread switches.
"""

from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from services.collector.deps import CurrentAnnotator, PoolDep
from services.collector.params import IdPath
from services.collector.schemas import (
    AssignmentPublic,
    MeDataset,
    MePublic,
    PreferenceCreate,
    PreferencePublic,
)
from services.domain import annotation, datasets, votes
from services.domain.votes import Vote

router = APIRouter(tags=["annotation"])


@router.get("/me")
async def me(pool: PoolDep, annotator: CurrentAnnotator) -> MePublic:
    """Who the token belongs to, and their progress in every dataset."""
    async with pool.connection() as connection:
        mine = await datasets.for_annotator(connection, annotator)
    return MePublic(
        id=annotator.id,
        name=annotator.name,
        datasets=[MeDataset.model_validate(d, from_attributes=True) for d in mine],
    )


@router.get(
    "/datasets/{dataset_id}/next",
    responses={204: {"description": "nothing to judge right now"}},
    response_model=AssignmentPublic,
)
async def next_comparison(
    dataset_id: IdPath, pool: PoolDep, annotator: CurrentAnnotator
) -> Response | AssignmentPublic:
    """Lease the next comparison to judge (the same one again while its lease lives); 204 when none; 403 with
    the reason when the annotator is paused on the dataset."""
    async with pool.connection() as connection:
        assignment = await annotation.next_comparison(connection, annotator, dataset_id)
    if assignment is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return AssignmentPublic.model_validate(assignment, from_attributes=True)


@router.post("/comparisons/{comparison_id}/preferences", status_code=status.HTTP_201_CREATED)
async def vote(
    comparison_id: IdPath,
    body: PreferenceCreate,
    pool: PoolDep,
    annotator: CurrentAnnotator,
    idempotency_key: Annotated[str | None, Header(max_length=votes.MAX_IDEMPOTENCY_KEY)] = None,
) -> PreferencePublic:
    """Record a vote; a retry with the same Idempotency-Key returns the first answer."""
    async with pool.connection() as connection:
        stored = await votes.record_preference(
            connection, annotator, comparison_id, Vote(**body.model_dump()), idempotency_key=idempotency_key
        )
    return PreferencePublic.model_validate(stored, from_attributes=True)
