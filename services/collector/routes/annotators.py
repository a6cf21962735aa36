from fastapi import APIRouter, status

from services.collector.deps import AdminDep, SessionDep
from services.collector.schemas import AnnotatorCreate, AnnotatorCreated
from services.domain import annotators

router = APIRouter(tags=["annotators"])


@router.post("/annotators", status_code=status.HTTP_201_CREATED)
def create_annotator(body: AnnotatorCreate, session: SessionDep, _: AdminDep) -> AnnotatorCreated:
    """Issue an annotator and their bearer token (shown only in this answer)."""
    annotator, token = annotators.create(session, name=body.name)
    return AnnotatorCreated(id=annotator.id, name=annotator.name, token=token)
