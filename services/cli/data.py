"""Client commands for data: import comparisons into a dataset, export a dataset."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.markup import escape

from services.cli.render import console, fail, fail_request
from services.client import CollectorClient, CollectorError
from services.core.enums import DatasetKind, ExportFormat, ImportFormat, SourceFilter
from services.domain.import_formats import EXAMPLES

UPLOAD_CHUNK = 1 << 20


def dataset_id(client: CollectorClient, name: str) -> int:
    """The id of the dataset called `name`."""
    found = client.find_dataset(name)
    if found is None:
        fail(f"no dataset named {name!r}")
    return found.id


def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL file"),
    dataset: str = typer.Option(..., "--dataset", help="Dataset name; created (with the import) if missing."),
    format: ImportFormat = typer.Option(..., "--format"),
    kind: DatasetKind | None = typer.Option(
        None, "--kind", help="Kind of the dataset to create (default: the kind of the file's first row)."
    ),
    with_preferences: bool = typer.Option(
        False,
        "--with-preferences",
        help="Record each known winner as a vote of the built-in `import` annotator.",
    ),
    dedupe: bool = typer.Option(
        True, "--dedupe/--keep-duplicates", help="Skip rows the dataset already holds (default)."
    ),
) -> None:
    def chunks() -> Iterator[bytes]:
        with file.open("rb") as stream:
            while chunk := stream.read(UPLOAD_CHUNK):
                yield chunk

    # Imports run in one transaction on the server: give big files time.
    with CollectorClient.from_settings(timeout=3600) as client:
        try:
            found = client.find_dataset(dataset)
            if found is None:
                # Created in the import's transaction: a failed import leaves no empty dataset behind.
                result = client.create_and_import(
                    dataset,
                    chunks(),
                    format=format,
                    kind=kind,
                    with_preferences=with_preferences,
                    dedupe=dedupe,
                )
                console.print(f"created dataset {dataset!r} (id {result.dataset_id})")
            else:
                if kind is not None and found.kind != kind:
                    fail(f"dataset {dataset!r} is a {found.kind} dataset, not a {kind} one")
                result = client.import_jsonl(
                    found.id, chunks(), format=format, with_preferences=with_preferences, dedupe=dedupe
                )
        except CollectorError as error:
            fail_request(error)
    if result.kind != DatasetKind.PREFERENCE:
        stored = f"{result.examples} rows"
    else:
        stored = f"{result.comparisons} comparisons and {result.preferences} preferences"
    console.print(f"imported {stored}; skipped {result.skipped} duplicates")


import_.__doc__ = (
    "Import a JSONL file into a dataset: comparisons (trl preference rows, hh, oasst) or prompt, "
    "demonstration and labelled rows. One example line per format:\n\n"
    + "\n\n".join(f"{name}: {escape(line)}" for name, line in EXAMPLES.items())
)


def export(
    dataset: str = typer.Argument(..., help="Dataset name"),
    format: ExportFormat = typer.Option(ExportFormat.TRL, "--format"),
    output: Path = typer.Option(..., "-o", "--output", help="File to write; '-' for standard output"),
    min_trust: float | None = typer.Option(
        None,
        "--min-trust",
        min=0,
        max=1,
        help="Leave out votes of annotators trusted less (docs/quality.md).",
    ),
    include_gold: bool = typer.Option(
        False, "--include-gold", help="Gold items too (trl: by their answers)."
    ),
    source: SourceFilter = typer.Option(
        SourceFilter.HUMAN,
        "--source",
        help="Whose votes: human (people and imported winners), ai (ai_feedback judges) or all.",
    ),
) -> None:
    """Export a dataset: trl (decided pairs with margins, JSONL), raw (every vote, JSONL) or parquet (the trl
    pairs as a Parquet file)."""
    with CollectorClient.from_settings(timeout=3600) as client:
        try:
            source_id = dataset_id(client, dataset)
            with client.export(
                source_id, format=format, min_trust=min_trust, include_gold=include_gold, source=source
            ) as chunks:
                if str(output) == "-":
                    for chunk in chunks:
                        sys.stdout.buffer.write(chunk)
                    sys.stdout.buffer.flush()
                    return
                lines = size = 0
                partial = output.with_name(output.name + ".partial")
                with partial.open("wb") as sink:
                    for chunk in chunks:
                        lines += chunk.count(b"\n")
                        size += len(chunk)
                        sink.write(chunk)
                partial.replace(output)  # a broken stream leaves no half-written file under the real name
        except CollectorError as error:
            fail_request(error)
    written = f"{size} bytes" if format == ExportFormat.PARQUET else f"{lines} lines"
    console.print(f"wrote {written} to {output}")
