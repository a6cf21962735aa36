"""The annotator's endpoints: me, next, preferences.

They run hundreds of times a second, so each authenticates and does its database work in one worker
thread with one session (`as_annotator`), rather than through the sync SessionDep/CurrentAnnotator
dependencies, for which FastAPI hops threads four times per request: measured, about a fifth of the
collector's CPU per vote. Authentication is deps.current_annotator itself, so 401/403 stay the same.
"""

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Header, Response, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from services.collector.deps import CredentialsDep, current_annotator
from services.collector.params import IdPath
from services.collector.schemas import (
    AssignmentPublic,
    MeDataset,
    MePublic,
    PreferenceCreate,
    PreferencePublic,
)
from services.core.db import get_sessionmaker
from services.domain import annotation, datasets
from services.domain.annotation import Vote
from services.domain.annotators import Identity

router = APIRouter(tags=["annotation"])

T = TypeVar("T")


async def as_annotator(credentials: CredentialsDep, work: Callable[[Session, Identity], T]) -> T:
    """Authenticate the bearer token as an annotator and run `work`, in one worker thread and session."""

    def run() -> T:
        with get_sessionmaker()() as session:
            return work(session, current_annotator(session, credentials))

    return await run_in_threadpool(run)


@router.get("/me")
async def me(credentials: CredentialsDep) -> MePublic:
    """Who the token belongs to, and their progress in every dataset."""

    def work(session: Session, annotator: Identity) -> MePublic:
        mine = datasets.for_annotator(session, annotator)
        return MePublic(
            id=annotator.id,
            name=annotator.name,
            datasets=[MeDataset.model_validate(d, from_attributes=True) for d in mine],
        )

    return await as_annotator(credentials, work)


@router.get(
    "/datasets/{dataset_id}/next",
    responses={204: {"description": "nothing to judge right now"}},
    response_model=AssignmentPublic,
)
async def next_comparison(dataset_id: IdPath, credentials: CredentialsDep) -> Response | AssignmentPublic:
    """Lease the next comparison to judge (the same one again while its lease lives); 204 when none."""
    assignment = await as_annotator(
        credentials, lambda session, annotator: annotation.next_comparison(session, annotator, dataset_id)
    )
    if assignment is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return AssignmentPublic.model_validate(assignment, from_attributes=True)


@router.post("/comparisons/{comparison_id}/preferences", status_code=status.HTTP_201_CREATED)
async def vote(
    comparison_id: IdPath,
    body: PreferenceCreate,
    credentials: CredentialsDep,
    idempotency_key: Annotated[str | None, Header(max_length=annotation.MAX_IDEMPOTENCY_KEY)] = None,
) -> PreferencePublic:
    """Record a vote; a retry with the same Idempotency-Key returns the first answer."""
    stored = await as_annotator(
        credentials,
        lambda session, annotator: annotation.record_preference(
            session, annotator, comparison_id, Vote(**body.model_dump()), idempotency_key=idempotency_key
        ),
    )
    return PreferencePublic.model_validate(stored, from_attributes=True)
