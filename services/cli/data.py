"""Client commands for data: import comparisons into a dataset, export a dataset."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import typer

from services.cli.render import console, fail, fail_request
from services.client import CollectorClient, CollectorError
from services.core.enums import ExportFormat, ImportFormat

UPLOAD_CHUNK = 1 << 20


def dataset_id(client: CollectorClient, name: str, *, create: bool = False) -> int:
    """The id of the dataset called `name` (created with the defaults when `create` and it is missing)."""
    found = client.find_dataset(name)
    if found is not None:
        return found.id
    if not create:
        fail(f"no dataset named {name!r}")
    created = client.create_dataset(name)
    console.print(f"created dataset {name!r} (id {created.id})")
    return created.id


def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL file"),
    dataset: str = typer.Option(..., "--dataset", help="Dataset name; created if missing."),
    format: ImportFormat = typer.Option(..., "--format"),
    with_preferences: bool = typer.Option(
        False,
        "--with-preferences",
        help="Record each known winner as a vote of the built-in `import` annotator.",
    ),
) -> None:
    """Import comparisons from a JSONL file (TRL, Anthropic HH or OpenAssistant trees) into a dataset."""

    def chunks() -> Iterator[bytes]:
        with file.open("rb") as stream:
            while chunk := stream.read(UPLOAD_CHUNK):
                yield chunk

    # Imports run in one transaction on the server: give big files time.
    with CollectorClient.from_settings(timeout=3600) as client:
        try:
            target = dataset_id(client, dataset, create=True)
            result = client.import_jsonl(target, chunks(), format=format, with_preferences=with_preferences)
        except CollectorError as error:
            fail_request(error)
    console.print(f"imported {result.comparisons} comparisons and {result.preferences} preferences")


def export(
    dataset: str = typer.Argument(..., help="Dataset name"),
    format: ExportFormat = typer.Option(ExportFormat.TRL, "--format"),
    output: Path = typer.Option(..., "-o", "--output", help="File to write (JSONL); '-' for standard output"),
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
) -> None:
    """Export a dataset as JSONL: trl (decided pairs with margins) or raw (every vote)."""
    with CollectorClient.from_settings(timeout=3600) as client:
        try:
            source = dataset_id(client, dataset)
            with client.export(
                source, format=format, min_trust=min_trust, include_gold=include_gold
            ) as chunks:
                if str(output) == "-":
                    for chunk in chunks:
                        sys.stdout.buffer.write(chunk)
                    sys.stdout.buffer.flush()
                    return
                lines = 0
                partial = output.with_name(output.name + ".partial")
                with partial.open("wb") as sink:
                    for chunk in chunks:
                        lines += chunk.count(b"\n")
                        sink.write(chunk)
                partial.replace(output)  # a broken stream leaves no half-written file under the real name
        except CollectorError as error:
            fail_request(error)
    console.print(f"wrote {lines} lines to {output}")
