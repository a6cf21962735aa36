from fastapi import APIRouter, Response, status

from services.collector.console_schemas import DatasetUpdate
from services.collector.deps import AdminDep, ReadDep, SessionDep
from services.collector.params import IdPath
from services.collector.schemas import DatasetCreate, DatasetPublic, DatasetsPublic
from services.core.enums import DatasetKind, Sampling
from services.domain import datasets, retention, scores
from services.domain.datasets import DatasetProgress
from services.queue.broker import enqueue_job

router = APIRouter(tags=["datasets"])


def _public(session: SessionDep, item: DatasetProgress) -> DatasetPublic:
    d, p = item.dataset, item.progress
    return DatasetPublic(
        id=d.id,
        name=d.name,
        kind=DatasetKind(d.kind),
        guidelines=d.guidelines,
        annotations_per_comparison=d.annotations_per_comparison,
        gold_rate=d.gold_rate,
        sampling=Sampling(d.sampling),
        sampling_state=scores.sampling_state(session, d),
        reward=d.reward,
        created_at=d.created_at,
        gold=p.gold,
        comparisons=p.comparisons,
        complete=p.complete,
        remaining=p.remaining,
        votes=p.votes,
        skips=p.skips,
        votes_needed=p.votes_needed,
        examples=p.examples,
    )


@router.post("/datasets", status_code=status.HTTP_201_CREATED)
def create_dataset(body: DatasetCreate, session: SessionDep, _: AdminDep) -> DatasetPublic:
    """Create a dataset of a kind (default preference); each comparison of a preference dataset is judged by
    annotations_per_comparison annotators."""
    dataset = datasets.create(
        session,
        name=body.name,
        kind=body.kind,
        guidelines=body.guidelines,
        annotations_per_comparison=body.annotations_per_comparison,
        gold_rate=body.gold_rate,
        sampling=body.sampling,
        reward=body.reward,
    )
    return _public(session, datasets.with_progress(session, dataset.id))


@router.get("/datasets")
def list_datasets(session: SessionDep, _: ReadDep) -> DatasetsPublic:
    """All datasets with their progress counts."""
    items = datasets.list_with_progress(session)
    return DatasetsPublic(data=[_public(session, item) for item in items], count=len(items))


@router.get("/datasets/{dataset_id}")
def get_dataset(dataset_id: IdPath, session: SessionDep, _: ReadDep) -> DatasetPublic:
    """One dataset with its progress counts."""
    return _public(session, datasets.with_progress(session, dataset_id))


@router.patch("/datasets/{dataset_id}")
def update_dataset(
    dataset_id: IdPath, body: DatasetUpdate, session: SessionDep, _: AdminDep
) -> DatasetPublic:
    """Change guidelines, annotations_per_comparison (k), gold_rate, sampling or reward (`null`: back to
    `default`); fields left out stay. An uncertainty dataset whose reward model has comparisons left to score
    gets a score_comparisons job."""
    datasets.update(
        session,
        dataset_id,
        guidelines=body.guidelines,
        annotations_per_comparison=body.annotations_per_comparison,
        gold_rate=body.gold_rate,
        sampling=body.sampling,
        reward=body.reward,
        clear_reward="reward" in body.model_fields_set and body.reward is None,
    )
    scores.request_scoring(session, dataset_id, enqueue=enqueue_job)
    return _public(session, datasets.with_progress(session, dataset_id))


@router.delete("/datasets/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_dataset(dataset_id: IdPath, session: SessionDep, _: AdminDep) -> Response:
    """Delete a dataset with its comparisons and votes; 409 while a queued or running job uses it."""
    retention.delete_dataset(session, dataset_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
