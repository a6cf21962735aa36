import dataclasses

from fastapi import APIRouter

from services.collector.deps import ReadOrTrainDep
from services.collector.schemas import JobKindPublic, JobKindsPublic
from services.core.enums import JobKind
from services.domain.job_params import describe_kind

router = APIRouter(tags=["jobs"])


@router.get("/job-kinds")
def list_job_kinds(_: ReadOrTrainDep) -> JobKindsPublic:
    """Each job kind with the parameters it takes: name, types, default, bounds and help."""
    kinds = [JobKindPublic.model_validate(dataclasses.asdict(describe_kind(kind))) for kind in JobKind]
    return JobKindsPublic(data=kinds, count=len(kinds))
