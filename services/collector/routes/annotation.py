"""The annotator's endpoints: me, next, preferences.

They run hundreds of times a second (the web form asks /me after every item), so they are plain Starlette
routes (services/collector/plain_routes.py: FastAPI's per-request work cost more CPU than their SQL) and do
their database work on the event loop, on one async connection of the pool: a worker thread per request cost
about a third of the collector's CPU in thread switches. The request guard (services/collector/auth.py) has
authenticated the caller before they run.
"""

from fastapi import HTTPException, Request, Response, status
from psycopg_pool import AsyncConnectionPool
from starlette.routing import BaseRoute

from services.collector.plain_routes import HeaderParam, PlainRoute, json_body, json_response, path_id
from services.collector.schemas import (
    AssignmentPublic,
    MeDataset,
    MePublic,
    PreferenceCreate,
    PreferencePublic,
)
from services.core.guard import PRINCIPAL
from services.domain import annotation, datasets, votes
from services.domain.annotators import Identity
from services.domain.votes import Vote

IDEMPOTENCY_KEY = HeaderParam(
    "Idempotency-Key",
    max_length=votes.MAX_IDEMPOTENCY_KEY,
    description="a retry with the same key returns the first answer and stores nothing more",
)


def _annotator(request: Request) -> tuple[AsyncConnectionPool, Identity]:
    """The lifespan's async pool and the calling annotator; 403 for any other caller."""
    principal = getattr(request.state, PRINCIPAL)
    if not isinstance(principal, Identity):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this endpoint needs an annotator token")
    pool: AsyncConnectionPool = request.state.db_pool
    return pool, principal


async def me(request: Request) -> Response:
    """Who the token belongs to, and their progress in every dataset."""
    pool, annotator = _annotator(request)
    async with pool.connection() as connection:
        mine = await datasets.for_annotator(connection, annotator)
    answer = MePublic(
        id=annotator.id,
        name=annotator.name,
        datasets=[MeDataset.model_validate(d, from_attributes=True) for d in mine],
    )
    return json_response(answer)


async def next_comparison(request: Request) -> Response:
    """Lease the next comparison to judge (the same one again while its lease lives); 204 when none; 403 with
    the reason when the annotator is paused on the dataset."""
    pool, annotator = _annotator(request)
    dataset_id = path_id(request, "dataset_id")
    async with pool.connection() as connection:
        assignment = await annotation.next_comparison(connection, annotator, dataset_id)
    if assignment is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return json_response(AssignmentPublic.model_validate(assignment, from_attributes=True))


async def vote(request: Request) -> Response:
    """Record a vote; a retry with the same Idempotency-Key returns the first answer."""
    pool, annotator = _annotator(request)
    comparison_id = path_id(request, "comparison_id")
    body = await json_body(request, PreferenceCreate)
    idempotency_key = IDEMPOTENCY_KEY.read(request)
    async with pool.connection() as connection:
        stored = await votes.record_preference(
            connection, annotator, comparison_id, Vote(**body.model_dump()), idempotency_key=idempotency_key
        )
    return json_response(
        PreferencePublic.model_validate(stored, from_attributes=True), status.HTTP_201_CREATED
    )


def routes(prefix: str) -> list[BaseRoute]:
    tags = ["annotation"]
    return [
        PlainRoute(f"{prefix}/me", me, method="GET", response=MePublic, tags=tags),
        PlainRoute(
            f"{prefix}/datasets/{{dataset_id}}/next",
            next_comparison,
            method="GET",
            response=AssignmentPublic,
            responses={204: "nothing to judge right now"},
            tags=tags,
        ),
        PlainRoute(
            f"{prefix}/comparisons/{{comparison_id}}/preferences",
            vote,
            method="POST",
            response=PreferencePublic,
            status_code=status.HTTP_201_CREATED,
            body=PreferenceCreate,
            headers=[IDEMPOTENCY_KEY],
            tags=tags,
        ),
    ]
