"""Exports as JSONL streams: `trl` (one decided pair per comparison) and `raw` (every vote), both without gold
items unless asked, and optionally without the votes of annotators below a trust score; the other kinds of
dataset export their rows, `trl` in the format they were imported in (TRL's prompt-only and prompt-completion
types; `{"text","label"}`), `raw` with ids and metadata. `parquet` holds a preference dataset's `trl` rows as a
Parquet file.

A conversational prompt comes back as its message list, its responses (or completion) as lists of one
assistant message, as TRL's conversational types have them; a reference is written only where there is one.

PostgreSQL builds each JSON line and a server-side cursor hands them over in chunks, so memory does not
grow with the table (a million votes stream in constant memory); a Parquet file is written one row group per
chunk, each sent as soon as it is written.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any, cast

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from services.core.db import get_sessionmaker
from services.core.enums import DatasetKind, ExportFormat, SourceFilter
from services.core.errors import InvalidInputError
from services.domain import quality
from services.domain.ai_preferences import source_filter

CHUNK_ROWS = 2000

# A prompt as stored: its messages, else its text.
PROMPT = "coalesce(p.messages, to_jsonb(p.text))"


def answer(column: str) -> str:
    """A response or completion: the text, or for a conversational prompt a list of one assistant message."""
    return (
        f"CASE WHEN p.messages IS NULL THEN to_jsonb({column}) "
        f"ELSE jsonb_build_array(jsonb_build_object('role', 'assistant', 'content', {column})) END"
    )


# One line per comparison whose a/b votes have a strict majority (ties, both-bad and skips do not vote).
# margin = (mean strength of the winning votes - 1) / 2, a missing strength counting as 1: so 0 for
# "negligibly better" or unrated (imported) pairs, 1 when every winning vote says "much better"
# (Llama 2 used such a margin in its Bradley-Terry loss; TRL's RewardTrainer reads the `margin` column).
# Gold items are left out, unless include_gold: then each with answer a or b is one pair by its known answer
# (margin 0), whatever the votes on it say. Votes of the annotators in `excluded` (min_trust) do not count, nor
# votes of a source not in `sources` (people's only, unless asked: AI preferences are services/domain/
# ai_preferences.py).
_TRL = f"""
    WITH tally AS (
        SELECT v.comparison_id,
               count(*) FILTER (WHERE v.choice = 'a') AS a,
               count(*) FILTER (WHERE v.choice = 'b') AS b,
               avg(coalesce(v.strength, 1)) FILTER (WHERE v.choice = 'a') AS strength_a,
               avg(coalesce(v.strength, 1)) FILTER (WHERE v.choice = 'b') AS strength_b
        FROM preference v JOIN comparison c ON c.id = v.comparison_id
        WHERE c.dataset_id = %(dataset_id)s AND c.gold IS NULL AND v.choice IN ('a', 'b')
          AND v.annotator_id <> ALL(%(excluded)s::bigint[]) AND v.source = ANY(%(sources)s::text[])
        GROUP BY v.comparison_id
    ), decided AS (
        SELECT comparison_id, a > b AS a_wins,
               ((CASE WHEN a > b THEN strength_a ELSE strength_b END - 1) / 2)::float8 AS margin
        FROM tally WHERE a <> b
        UNION ALL
        SELECT id, gold = 'a', 0.0::float8 FROM comparison
        WHERE %(include_gold)s AND dataset_id = %(dataset_id)s AND gold IN ('a', 'b')
    )
    SELECT (jsonb_build_object(
        'prompt', {PROMPT},
        'chosen', {answer("CASE WHEN t.a_wins THEN c.response_a ELSE c.response_b END")},
        'rejected', {answer("CASE WHEN t.a_wins THEN c.response_b ELSE c.response_a END")},
        'margin', t.margin
    ) || jsonb_strip_nulls(jsonb_build_object('reference', c.reference)))::text
    FROM decided t JOIN comparison c ON c.id = t.comparison_id JOIN prompt p ON p.id = c.prompt_id
    ORDER BY c.id
"""

_RAW = f"""
    SELECT json_build_object(
        'comparison_id', c.id,
        'prompt', {PROMPT},
        'response_a', c.response_a,
        'response_b', c.response_b,
        'reference', c.reference,
        'metadata', c.metadata,
        'source_a_version_id', c.source_a_version_id,
        'source_b_version_id', c.source_b_version_id,
        'preference_id', v.id,
        'annotator_id', v.annotator_id,
        'choice', v.choice,
        'strength', v.strength,
        'rationale', v.rationale,
        'both_bad', v.both_bad,
        'shown_left', v.shown_left,
        'time_spent_ms', v.time_spent_ms,
        'leased_at', v.leased_at,
        'created_at', v.created_at,
        'server_time_ms', (extract(epoch FROM v.created_at - v.leased_at) * 1000)::float8,
        'gold', c.gold,
        'flagged', ap.paused_at IS NOT NULL,
        'source', v.source,
        'preference_metadata', v.metadata
    )::text
    FROM preference v JOIN comparison c ON c.id = v.comparison_id JOIN prompt p ON p.id = c.prompt_id
    LEFT JOIN annotator_pause ap ON ap.annotator_id = v.annotator_id AND ap.dataset_id = c.dataset_id
    WHERE c.dataset_id = %(dataset_id)s AND (%(include_gold)s OR c.gold IS NULL)
      AND v.annotator_id <> ALL(%(excluded)s::bigint[]) AND v.source = ANY(%(sources)s::text[])
    ORDER BY c.id, v.id
"""


_EXAMPLES_FROM = """
    FROM example e JOIN prompt p ON p.id = e.prompt_id
    WHERE e.dataset_id = %(dataset_id)s
    ORDER BY e.id
"""

_EXAMPLES_TRL = {
    DatasetKind.PROMPT: f"""
        SELECT (jsonb_build_object('prompt', {PROMPT})
                || jsonb_strip_nulls(jsonb_build_object('reference', e.reference)))::text {_EXAMPLES_FROM}""",
    DatasetKind.DEMONSTRATION: f"""
        SELECT jsonb_build_object('prompt', {PROMPT}, 'completion', {answer("e.completion")})::text
        {_EXAMPLES_FROM}""",
    DatasetKind.LABELLED: f"SELECT jsonb_build_object('text', p.text, 'label', e.label)::text {_EXAMPLES_FROM}",
}

_EXAMPLES_RAW = f"""
    SELECT json_build_object(
        'example_id', e.id, 'prompt', {PROMPT}, 'completion', e.completion, 'reference', e.reference,
        'label', e.label, 'metadata', e.metadata, 'created_at', e.created_at
    )::text
    {_EXAMPLES_FROM}
"""


def stream(
    dataset_id: int,
    kind: str,
    *,
    format: str,
    min_trust: float | None = None,
    include_gold: bool = False,
    source: str = SourceFilter.HUMAN,
) -> Iterator[bytes]:
    """The chunks of the export of a dataset of this kind; opens its own session, which lives as long as the
    stream. A format the dataset cannot have is refused here, before the stream starts.

    min_trust: leave out the votes of annotators whose trust on the dataset is below it (services/domain/
    quality.py; None: keep all). include_gold: gold items too (trl, parquet: as pairs by their known
    answers). source: whose votes (human, ai or all; services/core/enums.SourceFilter). These concern votes,
    so only preference datasets."""
    if format not in list(ExportFormat):
        raise InvalidInputError(f"format must be one of {', '.join(ExportFormat)}")
    sources = source_filter(source).sources
    if min_trust is not None and not 0 <= min_trust <= 1:
        raise InvalidInputError("min_trust must be between 0 and 1")
    if kind != DatasetKind.PREFERENCE:
        if format == ExportFormat.PARQUET:
            raise InvalidInputError(f"format parquet exports preference datasets; this one holds {kind} rows")
        query = _EXAMPLES_TRL[DatasetKind(kind)] if format == ExportFormat.TRL else _EXAMPLES_RAW
        return _lines(query, {"dataset_id": dataset_id})
    with get_sessionmaker()() as session:
        excluded = quality.untrusted(session, dataset_id, min_trust)
    params = {
        "dataset_id": dataset_id,
        "excluded": excluded,
        "include_gold": include_gold,
        "sources": [str(value) for value in sources],
    }
    if format == ExportFormat.PARQUET:
        return _parquet(params, _parquet_schema(dataset_id))
    return _lines(_TRL if format == ExportFormat.TRL else _RAW, params)


def _lines(query: str, params: dict[str, Any]) -> Iterator[bytes]:
    return (("\n".join(row[0] for row in rows) + "\n").encode() for rows in _chunks(query, params))


def _chunks(query: str, params: dict[str, Any]) -> Iterator[list[tuple[Any, ...]]]:
    with get_sessionmaker()() as session:
        driver = cast(psycopg.Connection, session.connection().connection.driver_connection)
        # A named cursor is a server-side one: rows arrive CHUNK_ROWS at a time, never all at once.
        with driver.cursor(name=f"export_{uuid.uuid4().hex}") as cursor:
            cursor.execute(query, params)
            while rows := cursor.fetchmany(CHUNK_ROWS):
                yield rows


_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))

_PARQUET_SHAPE = """
    SELECT coalesce(bool_or(p.messages IS NOT NULL), false), coalesce(bool_and(p.messages IS NOT NULL), false),
           coalesce(bool_or(c.reference IS NOT NULL), false)
    FROM comparison c JOIN prompt p ON p.id = c.prompt_id
    WHERE c.dataset_id = %(dataset_id)s
"""


def _parquet_schema(dataset_id: int) -> pa.Schema:
    """A Parquet file has one schema, fixed before its first row group: text or message-list columns as the
    dataset's prompts are, and `reference` where any comparison has one."""
    with get_sessionmaker()() as session:
        driver = cast(psycopg.Connection, session.connection().connection.driver_connection)
        row = driver.execute(_PARQUET_SHAPE, {"dataset_id": dataset_id}).fetchone()
    any_chat, all_chat, any_reference = row if row else (False, False, False)
    if any_chat and not all_chat:
        raise InvalidInputError(
            "format parquet needs every prompt of the dataset text, or every one a conversation"
        )
    answer_type = _MESSAGES if all_chat else pa.string()
    fields = [
        ("prompt", answer_type),
        ("chosen", answer_type),
        ("rejected", answer_type),
        ("margin", pa.float64()),
    ]
    return pa.schema(fields + ([("reference", pa.string())] if any_reference else []))


class _Drain:
    """A write-only file that hands over what was written to it: where ParquetWriter writes, so that each
    row group leaves as soon as it is written."""

    def __init__(self) -> None:
        self.pending = bytearray()
        self.position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.pending += data
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = bytes(self.pending)
        self.pending.clear()
        return data


def _parquet(params: dict[str, Any], schema: pa.Schema) -> Iterator[bytes]:
    """The trl rows, one row group per chunk: the same lines as the trl export, so the two always agree."""
    drain = _Drain()
    with pq.ParquetWriter(drain, schema) as writer:
        for rows in _chunks(_TRL, params):
            writer.write_table(pa.Table.from_pylist([json.loads(row[0]) for row in rows], schema=schema))
            yield drain.take()
    yield drain.take()  # the footer, written on close
