from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from services.collector.deps import ReadDep, SessionDep
from services.collector.params import IdPath
from services.core.enums import ExportFormat, SourceFilter
from services.domain import datasets, exports

router = APIRouter(tags=["exports"])

PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"


@router.get(
    "/datasets/{dataset_id}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/x-ndjson": {}, PARQUET_MEDIA_TYPE: {}},
            "description": "JSONL stream (trl, raw) or Parquet file (parquet)",
        }
    },
)
def export_dataset(
    dataset_id: IdPath,
    format: ExportFormat,
    session: SessionDep,
    _: ReadDep,
    min_trust: Annotated[float | None, Query(ge=0, le=1)] = None,
    include_gold: bool = False,
    source: SourceFilter = SourceFilter.HUMAN,
) -> StreamingResponse:
    """JSONL stream: trl = one decided pair per comparison with its margin (other kinds: their rows as
    imported); raw = every vote (other kinds: every row with its id and metadata); parquet = a preference
    dataset's trl rows as a Parquet file, streamed one row group at a time. min_trust drops the votes of
    annotators trusted less; gold items only with include_gold (trl, parquet: by their known answers); source:
    whose votes, people's (default), the AI judges' or all."""
    dataset = datasets.get(session, dataset_id)
    chunks = exports.stream(
        dataset.id,
        dataset.kind,
        format=format,
        min_trust=min_trust,
        include_gold=include_gold,
        source=source,
    )
    if format == ExportFormat.PARQUET:
        media_type, filename = PARQUET_MEDIA_TYPE, f"dataset-{dataset.id}.parquet"
    else:
        media_type, filename = "application/x-ndjson", f"dataset-{dataset.id}.{format}.jsonl"
    return StreamingResponse(
        chunks,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
