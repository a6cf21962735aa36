"""Imports of JSONL files into a dataset (the formats: services/domain/import_formats.py).

Atomic: the whole upload is one transaction, inserted in batches as it is read, so memory stays bounded
however long the file is; a malformed line, or a row that does not fit the dataset's kind, rolls everything
back (a dataset created for the import included) and names its line number.
Idempotent: by default a row the dataset already holds (a comparison with the same prompt and pair of
responses, in either order; an example equal in every field) is skipped and counted as such, so importing a
file twice stores it once. Deduplicating imports of one dataset take turns (a transaction-level lock).
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from services.core.enums import DatasetKind, ImportFormat, Side
from services.core.errors import DomainError, InvalidInputError, NotFoundError, PayloadTooLargeError
from services.core.orm import Dataset, Preference
from services.core.settings import get_settings
from services.domain import annotators, comparisons, datasets, examples
from services.domain.comparisons import NewComparison
from services.domain.examples import NewExample
from services.domain.import_formats import PARSERS, KnownPair, Row, row_kind

BATCH_SIZE = 1000


@dataclass(frozen=True)
class ImportResult:
    dataset_id: int
    kind: str  # the dataset's
    comparisons: int
    preferences: int
    examples: int  # rows of prompt, demonstration and labelled datasets
    skipped: int  # rows left out as duplicates


@dataclass(frozen=True)
class NewDataset:
    """A dataset to create with the import, in its transaction; kind None: the kind of the file's first row."""

    name: str
    kind: DatasetKind | None = None
    guidelines: str = ""
    annotations_per_comparison: int = 1


@dataclass
class _Batch:
    pairs: list[tuple[NewComparison, Side]]
    examples: list[NewExample]

    def __len__(self) -> int:
        return len(self.pairs) + len(self.examples)


def import_file(
    session: Session,
    target: int | NewDataset,
    source: IO[bytes],
    *,
    format: str,
    with_preferences: bool,
    dedupe: bool = True,
) -> ImportResult:
    """Import a JSONL file into a dataset (`target`: its id, or a NewDataset to create with the import).

    with_preferences records each known winner as a vote of the built-in `import` annotator (it fills a
    slot); A/B order is randomised either way.
    """
    if format not in list(ImportFormat):
        raise InvalidInputError(f"format must be one of {', '.join(ImportFormat)}")
    parse = PARSERS[ImportFormat(format)]
    rng = random.Random()
    dataset: Dataset | None = None
    counts = {"comparisons": 0, "examples": 0, "skipped": 0}
    try:
        if isinstance(target, int):
            dataset = _existing(session, target, dedupe=dedupe)
        voter_id = annotators.import_annotator(session).id if with_preferences else None
        batch = _Batch([], [])
        for line_number, record in _records(source):
            with _at_line(line_number):
                rows = list(parse(record))
            if dataset is None and rows:
                assert isinstance(target, NewDataset)
                dataset = _create(session, target, row_kind(rows[0]))
            with _at_line(line_number):
                for row in rows:
                    assert dataset is not None
                    _add(batch, row, dataset, rng, with_preferences=with_preferences)
            if len(batch) >= BATCH_SIZE:
                assert dataset is not None
                _store(session, dataset, batch, voter_id, dedupe=dedupe, counts=counts)
                batch = _Batch([], [])
        if dataset is None:
            raise InvalidInputError("the upload holds no rows")
        _store(session, dataset, batch, voter_id, dedupe=dedupe, counts=counts)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return ImportResult(
        dataset_id=dataset.id,
        kind=dataset.kind,
        comparisons=counts["comparisons"],
        preferences=counts["comparisons"] if with_preferences else 0,
        examples=counts["examples"],
        skipped=counts["skipped"],
    )


@contextmanager
def _at_line(line_number: int) -> Iterator[None]:
    """Prefix a domain error raised inside with the line it is about."""
    try:
        yield
    except DomainError as error:
        raise type(error)(f"line {line_number}: {error.message}") from None


def _existing(session: Session, dataset_id: int, *, dedupe: bool) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id} not found")
    if dedupe:
        # Two imports of one file at once must not both find its rows new.
        session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(f"import:{dataset_id}".encode())}
        )
    return dataset


def _create(session: Session, new: NewDataset, first_row_kind: DatasetKind) -> Dataset:
    return datasets.create(
        session,
        name=new.name,
        kind=new.kind or first_row_kind,
        guidelines=new.guidelines,
        annotations_per_comparison=new.annotations_per_comparison,
        commit=False,
    )


def _add(batch: _Batch, row: Row, dataset: Dataset, rng: random.Random, *, with_preferences: bool) -> None:
    kind = row_kind(row)
    if kind != dataset.kind:
        raise InvalidInputError(
            f"a {kind} row does not fit dataset {dataset.name!r}, a {dataset.kind} dataset "
            f"(create a {kind} dataset for it)"
        )
    if isinstance(row, KnownPair):
        placed = _place(row, rng)
        comparisons.check(placed[0])
        batch.pairs.append(placed)
    else:
        if with_preferences:
            raise InvalidInputError("with_preferences applies to preference rows only")
        examples.check(row)
        batch.examples.append(row)


def _records(source: IO[bytes]) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) for each non-blank line; a line longer than the limit is refused unread."""
    limit = 100 * get_settings().max_text_bytes
    line_number = 0
    while line := source.readline(limit + 1):
        line_number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            raise PayloadTooLargeError(f"line {line_number}: longer than {limit} bytes")
        if not line.strip():
            continue
        try:
            yield line_number, json.loads(line)
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
            raise InvalidInputError(f"line {line_number}: not valid JSON ({error})") from None
    if line_number == 0:
        raise InvalidInputError("the upload is empty")


def _place(pair: KnownPair, rng: random.Random) -> tuple[NewComparison, Side]:
    """Put the chosen response on side A or B at random; return the comparison and the winning side."""
    if rng.random() < 0.5:
        return NewComparison(
            pair.prompt, pair.chosen, pair.rejected, pair.metadata, reference=pair.reference, gold=pair.gold
        ), Side.A
    swapped = {"a": "b", "b": "a"}.get(pair.gold or "", pair.gold)  # the gold answer follows its response
    return NewComparison(
        pair.prompt, pair.rejected, pair.chosen, pair.metadata, reference=pair.reference, gold=swapped
    ), Side.B


def _store(
    session: Session,
    dataset: Dataset,
    batch: _Batch,
    voter_id: int | None,
    *,
    dedupe: bool,
    counts: dict[str, int],
) -> None:
    stored = examples.insert_batch(session, dataset, batch.examples, dedupe=dedupe)
    counts["examples"] += stored
    counts["skipped"] += len(batch.examples) - stored
    if not batch.pairs:
        return
    votes = 1 if voter_id is not None else 0
    ids = comparisons.insert_batch(
        session, dataset, [item for item, _ in batch.pairs], votes_each=votes, dedupe=dedupe
    )
    new = [(cid, winner) for cid, (_, winner) in zip(ids, batch.pairs, strict=True) if cid is not None]
    counts["comparisons"] += len(new)
    counts["skipped"] += len(ids) - len(new)
    if voter_id is not None and new:
        session.execute(
            insert(Preference),
            [{"comparison_id": cid, "annotator_id": voter_id, "choice": winner} for cid, winner in new],
        )
