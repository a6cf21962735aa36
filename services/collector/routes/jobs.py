from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import FileResponse

from services.collector.deps import ReadOrTrainDep, SessionDep, TrainDep
from services.collector.params import IdPath
from services.collector.schemas import JobCreate, JobPublic, JobQueued, JobsPublic
from services.core.enums import JobKind, JobStatus
from services.core.errors import NotFoundError
from services.core.inputs import MAX_ID
from services.domain import jobs, model_versions
from services.queue.broker import enqueue_job

router = APIRouter(tags=["jobs"])


@router.post("/jobs", status_code=status.HTTP_202_ACCEPTED)
def create_job(body: JobCreate, session: SessionDep, _: TrainDep) -> JobQueued:
    """Queue a training or generation job; a worker picks it up from the `gpu` queue."""
    job = jobs.create(
        session,
        kind=body.kind,
        dataset_id=body.dataset_id,
        base_model=body.base_model,
        params=body.params,
        enqueue=enqueue_job,
    )
    return JobQueued(id=job.id, status=job.status)


@router.get("/jobs")
def list_jobs(
    session: SessionDep,
    _: ReadOrTrainDep,
    status: JobStatus | None = None,
    kind: JobKind | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> JobsPublic:
    """Jobs, newest first (filter by status or kind)."""
    rows, count = jobs.list_jobs(session, status=status, kind=kind, limit=limit, offset=offset)
    return JobsPublic(data=[JobPublic.model_validate(job) for job in rows], count=count)


@router.get("/jobs/{job_id}")
def get_job(job_id: IdPath, session: SessionDep, _: ReadOrTrainDep) -> JobPublic:
    """A job's status, progress (0..1, with an ETA), live metrics, log tail and result."""
    return JobPublic.model_validate(jobs.get(session, job_id))


@router.get("/jobs/{job_id}/curves.png", response_class=FileResponse)
def job_curves(job_id: IdPath, session: SessionDep, _: ReadOrTrainDep) -> FileResponse:
    """The training curves (PNG) of the model version the job made; 404 until it has made one."""
    job = jobs.get(session, job_id)
    if job.model_version_id is None:
        raise NotFoundError(f"job {job_id} has made no model version (status {job.status}), so no curves")
    return FileResponse(model_versions.curves_path(session, job.model_version_id), media_type="image/png")


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: IdPath, session: SessionDep, _: TrainDep) -> JobPublic:
    """Cancel a job: a queued one at once, a running one at its next training step."""
    return JobPublic.model_validate(jobs.cancel(session, job_id))
