"""The admin's endpoints for annotators: issue, list, revoke, re-issue a token, assign datasets."""

from fastapi import APIRouter, status

from services.collector.deps import AdminDep, ReadDep, SessionDep
from services.collector.params import IdPath
from services.collector.schemas import (
    AnnotatorCreate,
    AnnotatorCreated,
    AnnotatorDatasetsUpdate,
    AnnotatorPublic,
    AnnotatorsPublic,
    AnnotatorTokenCreate,
)
from services.domain import annotators
from services.domain.annotators import AnnotatorSummary

router = APIRouter(tags=["annotators"])


def _public(item: AnnotatorSummary) -> AnnotatorPublic:
    return AnnotatorPublic.model_validate(item, from_attributes=True)


def _created(item: AnnotatorSummary, token: str) -> AnnotatorCreated:
    return AnnotatorCreated.model_validate(_public(item).model_dump() | {"token": token})


@router.post("/annotators", status_code=status.HTTP_201_CREATED)
def create_annotator(body: AnnotatorCreate, session: SessionDep, _: AdminDep) -> AnnotatorCreated:
    """Issue an annotator and their bearer token (shown only in this answer); every dataset unless `datasets`."""
    annotator, token = annotators.create(
        session, name=body.name, expires_at=body.expires_at, datasets=body.datasets
    )
    return _created(annotator, token)


@router.get("/annotators")
def list_annotators(session: SessionDep, _: ReadDep) -> AnnotatorsPublic:
    """Every annotator with their status (active, revoked, expired), datasets and vote counts."""
    items = annotators.list_all(session)
    return AnnotatorsPublic(data=[_public(item) for item in items], count=len(items))


@router.get("/annotators/{annotator_id}")
def get_annotator(annotator_id: IdPath, session: SessionDep, _: ReadDep) -> AnnotatorPublic:
    """One annotator with their status, datasets and vote counts."""
    return _public(annotators.summary(session, annotator_id))


@router.post("/annotators/{annotator_id}/revoke")
def revoke_annotator(annotator_id: IdPath, session: SessionDep, _: AdminDep) -> AnnotatorPublic:
    """Refuse the annotator's token from now on and free their leased comparisons; their votes stay."""
    return _public(annotators.revoke(session, annotator_id))


@router.post("/annotators/{annotator_id}/token", status_code=status.HTTP_201_CREATED)
def rotate_annotator_token(
    annotator_id: IdPath, session: SessionDep, _: AdminDep, body: AnnotatorTokenCreate | None = None
) -> AnnotatorCreated:
    """Issue a new token (shown only in this answer; the old one stops working), e.g. for a lost sign-in link."""
    if body is not None and "expires_at" in body.model_fields_set:
        annotator, token = annotators.rotate_token(session, annotator_id, expires_at=body.expires_at)
    else:
        annotator, token = annotators.rotate_token(session, annotator_id)
    return _created(annotator, token)


@router.put("/annotators/{annotator_id}/datasets")
def assign_datasets(
    annotator_id: IdPath, body: AnnotatorDatasetsUpdate, session: SessionDep, _: AdminDep
) -> AnnotatorPublic:
    """Set the datasets the annotator may work on (null: every dataset); leases elsewhere are freed."""
    return _public(annotators.assign(session, annotator_id, body.datasets))
