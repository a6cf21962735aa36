"""The annotator's endpoints: me, next, preferences.

They run hundreds of times a second (the web form asks /me after every item), so they are plain Starlette
routes (services/collector/plain_routes.py: FastAPI's per-request work was a quarter of the CPU per vote) and
do their database work on the event loop, on one async connection of the pool: a worker thread per request
cost about a third of the collector's CPU in thread switches. The request guard (services/collector/auth.py)
has authenticated the caller before they run; `_annotator` authorizes them.
"""

from fastapi import HTTPException, Request, Response, status
from psycopg_pool import AsyncConnectionPool
from starlette.routing import BaseRoute

from services.collector.plain_routes import NoInputs, PlainRoute, json_response
from services.collector.schemas import (
    AssignmentPublic,
    MeDataset,
    MePublic,
    NextInputs,
    PreferencePublic,
    VoteInputs,
)
from services.core.guard import PRINCIPAL
from services.domain import annotation, datasets, votes
from services.domain.annotators import Identity
from services.domain.votes import Vote

Annotating = tuple[AsyncConnectionPool, Identity]


def _annotator(request: Request) -> Annotating:
    """The lifespan's async pool and the calling annotator; 403 for any other caller."""
    principal = getattr(request.state, PRINCIPAL)
    if not isinstance(principal, Identity):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this endpoint needs an annotator token")
    pool: AsyncConnectionPool = request.state.db_pool
    return pool, principal


async def me(request: Request, caller: Annotating, inputs: NoInputs) -> Response:
    """Who the token belongs to, and their progress in every dataset."""
    pool, annotator = caller
    async with pool.connection() as connection:
        mine = await datasets.for_annotator(connection, annotator)
    answer = MePublic(
        id=annotator.id,
        name=annotator.name,
        datasets=[MeDataset.model_validate(d, from_attributes=True) for d in mine],
    )
    return json_response(answer)


async def next_comparison(request: Request, caller: Annotating, inputs: NextInputs) -> Response:
    """Lease the next comparison to judge (the same one again while its lease lives); 204 when none; 403 with
    the reason when the annotator is paused on the dataset."""
    pool, annotator = caller
    async with pool.connection() as connection:
        assignment = await annotation.next_comparison(connection, annotator, inputs.path.dataset_id)
    if assignment is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return json_response(AssignmentPublic.model_validate(assignment, from_attributes=True))


async def vote(request: Request, caller: Annotating, inputs: VoteInputs) -> Response:
    """Record a vote; a retry with the same Idempotency-Key returns the first answer."""
    pool, annotator = caller
    async with pool.connection() as connection:
        stored = await votes.record_preference(
            connection,
            annotator,
            inputs.path.comparison_id,
            Vote(**inputs.body.model_dump()),
            idempotency_key=inputs.header.idempotency_key,
        )
    return json_response(
        PreferencePublic.model_validate(stored, from_attributes=True), status.HTTP_201_CREATED
    )


def routes(prefix: str) -> list[BaseRoute]:
    tags = ["annotation"]
    return [
        PlainRoute(
            prefix,
            "/me",
            me,
            method="GET",
            authorize=_annotator,
            inputs=NoInputs,
            response=MePublic,
            tags=tags,
        ),
        PlainRoute(
            prefix,
            "/datasets/{dataset_id}/next",
            next_comparison,
            method="GET",
            authorize=_annotator,
            inputs=NextInputs,
            response=AssignmentPublic,
            responses={204: "nothing to judge right now"},
            tags=tags,
        ),
        PlainRoute(
            prefix,
            "/comparisons/{comparison_id}/preferences",
            vote,
            method="POST",
            authorize=_annotator,
            inputs=VoteInputs,
            response=PreferencePublic,
            status_code=status.HTTP_201_CREATED,
            tags=tags,
        ),
    ]
