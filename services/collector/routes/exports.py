from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from services.collector.deps import ReadDep, SessionDep
from services.collector.params import IdPath
from services.core.enums import ExportFormat
from services.domain import datasets, exports

router = APIRouter(tags=["exports"])


@router.get(
    "/datasets/{dataset_id}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "JSONL stream"}},
)
def export_dataset(
    dataset_id: IdPath,
    format: ExportFormat,
    session: SessionDep,
    _: ReadDep,
    min_trust: Annotated[float | None, Query(ge=0, le=1)] = None,
    include_gold: bool = False,
) -> StreamingResponse:
    """JSONL stream: trl = one decided pair per comparison with its margin (other kinds: their rows as
    imported); raw = every vote (other kinds: every row with its id and metadata). min_trust drops the votes
    of annotators trusted less; gold items only with include_gold (trl: by their known answers)."""
    dataset = datasets.get(session, dataset_id)
    return StreamingResponse(
        exports.stream(
            dataset.id, dataset.kind, format=format, min_trust=min_trust, include_gold=include_gold
        ),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="dataset-{dataset.id}.{format}.jsonl"'},
    )
