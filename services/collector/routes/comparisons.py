from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool

from services.collector.console_schemas import (
    ComparisonPublic,
    ComparisonsPublic,
    ImportFormatPublic,
    ImportFormatsPublic,
)
from services.collector.deps import AdminDep, ReadDep, SessionDep
from services.collector.params import IdPath
from services.collector.prompt_schemas import prompt_value
from services.collector.quality_schemas import GoldPublic, GoldUpdate
from services.collector.schemas import (
    ComparisonsCreate,
    ComparisonsCreated,
    ImportResultPublic,
)
from services.collector.upload import spool_body
from services.core.enums import DatasetKind, ImportFormat
from services.core.errors import InvalidInputError, PayloadTooLargeError
from services.core.inputs import MAX_ID
from services.core.settings import get_settings
from services.domain import comparisons, gold, import_formats, imports, scores
from services.domain.comparisons import NewComparison
from services.queue.broker import enqueue_job

router = APIRouter(tags=["comparisons"])


@router.post("/datasets/{dataset_id}/comparisons", status_code=status.HTTP_201_CREATED)
def add_comparisons(
    dataset_id: IdPath, body: ComparisonsCreate, session: SessionDep, _: AdminDep
) -> ComparisonsCreated:
    """Add up to max_batch_items (1000) comparisons; all or none are stored. In an uncertainty dataset, the
    worker is asked to score them with the promoted reward model."""
    limit = get_settings().max_batch_items
    if len(body.items) > limit:
        raise PayloadTooLargeError(f"at most {limit} items per request ({len(body.items)} sent)")
    if not body.items:
        raise InvalidInputError("items must not be empty")
    items = [
        NewComparison(
            prompt_value(i.prompt), i.response_a, i.response_b, i.metadata, reference=i.reference, gold=i.gold
        )
        for i in body.items
    ]
    ids = comparisons.add_comparisons(session, dataset_id, items)
    scores.request_scoring(session, dataset_id, enqueue=enqueue_job)
    return ComparisonsCreated(ids=ids)


@router.get("/datasets/{dataset_id}/comparisons")
def list_comparisons(
    dataset_id: IdPath,
    session: SessionDep,
    _: ReadDep,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> ComparisonsPublic:
    """A page of a preference dataset's comparisons in id order, with gold answers and vote counts."""
    page, count = comparisons.list_page(session, dataset_id, offset=offset, limit=limit)
    return ComparisonsPublic(
        data=[ComparisonPublic.model_validate(c, from_attributes=True) for c in page], count=count
    )


@router.put("/comparisons/{comparison_id}/gold")
def set_gold(comparison_id: IdPath, body: GoldUpdate, session: SessionDep, _: AdminDep) -> GoldPublic:
    """Mark a comparison as gold with its known answer, or (null) make it an ordinary comparison again."""
    comparison = gold.set_gold(session, comparison_id, body.gold)
    return GoldPublic(comparison_id=comparison.id, gold=comparison.gold)


@router.get("/import-formats")
def list_import_formats(_: ReadDep) -> ImportFormatsPublic:
    """One example JSONL line per import format and row shape (what the import route reads)."""
    found = [
        ImportFormatPublic(format=name, shape=shape, example=line)
        for name, shape, line in import_formats.example_lines()
    ]
    return ImportFormatsPublic(data=found, count=len(found))


@router.post("/datasets/{dataset_id}/import", status_code=status.HTTP_201_CREATED)
async def import_comparisons(
    dataset_id: IdPath,
    format: ImportFormat,
    request: Request,
    session: SessionDep,
    _: AdminDep,
    with_preferences: bool = False,
    dedupe: bool = True,
) -> ImportResultPublic:
    """Import a JSONL body (trl, hh, oasst or labelled) whose rows fit the dataset's kind; a malformed line
    rejects the whole upload. dedupe (default): rows the dataset already holds are skipped and counted."""
    return await _import(session, request, dataset_id, format, with_preferences, dedupe)


@router.post("/datasets/import", status_code=status.HTTP_201_CREATED)
async def create_and_import(
    name: Annotated[str, Query(min_length=1, max_length=200)],
    format: ImportFormat,
    request: Request,
    session: SessionDep,
    _: AdminDep,
    kind: DatasetKind | None = None,
    with_preferences: bool = False,
    dedupe: bool = True,
) -> ImportResultPublic:
    """Create a dataset and import a JSONL body into it, in one transaction: a failed import leaves no
    dataset behind. kind omitted: the kind of the file's first row."""
    target = imports.NewDataset(name=name, kind=kind)
    return await _import(session, request, target, format, with_preferences, dedupe)


async def _import(
    session: SessionDep,
    request: Request,
    target: int | imports.NewDataset,
    format: ImportFormat,
    with_preferences: bool,
    dedupe: bool,
) -> ImportResultPublic:
    with await spool_body(request) as body:
        result = await run_in_threadpool(
            imports.import_file,
            session,
            target,
            body,
            format=format,
            with_preferences=with_preferences,
            dedupe=dedupe,
        )
    await run_in_threadpool(scores.request_scoring, session, result.dataset_id, enqueue=enqueue_job)
    return ImportResultPublic.model_validate(result, from_attributes=True)
