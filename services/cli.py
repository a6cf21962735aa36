"""The `rlhf` command.

Server commands (`up`, `migrate`, `serve`, `worker`) run processes; client commands (`import`, `export`,
`train`, `jobs`, `models`) talk to the collector's HTTP API with the admin token, like any other client.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

import httpx
import typer
from rich.console import Console

from services.core.settings import get_settings

app = typer.Typer(help="Open RLHF platform: collect preferences, train, serve.", no_args_is_help=True)
console = Console()


def collector_client(*, timeout: float = 60.0) -> httpx.Client:
    """An HTTP client for the collector with the admin token (from RLHF_ADMIN_TOKEN or the state dir)."""
    settings = get_settings()
    return httpx.Client(
        base_url=settings.resolved_collector_url,
        headers={"Authorization": f"Bearer {settings.resolved_admin_token()}"},
        timeout=timeout,
    )


def check(response: httpx.Response) -> httpx.Response:
    """Exit with the API's own error message on a 4xx/5xx answer."""
    if response.is_error:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        console.print(f"[red]error {response.status_code}:[/red] {detail}")
        raise typer.Exit(1)
    return response


class Service(StrEnum):
    collector = "collector"
    inference = "inference"


@app.command()
def up(
    demo: bool = typer.Option(False, "--demo", help="Also seed a demo dataset and print a web-form link."),
    worker: bool = typer.Option(True, "--worker/--no-worker", help="Start a training worker."),
    inference: bool = typer.Option(True, "--inference/--no-inference", help="Start the inference service."),
) -> None:
    """Run the whole stack; embedded PostgreSQL and Redis unless RLHF_DATABASE_URL / RLHF_REDIS_URL are set."""
    from services.stack import run_stack

    raise typer.Exit(
        run_stack(get_settings(), demo=demo, with_worker=worker, with_inference=inference, console=console)
    )


@app.command()
def migrate() -> None:
    """Apply database migrations (embedded PostgreSQL in the state dir when RLHF_DATABASE_URL is unset)."""
    from services.core import embedded
    from services.core.migrate import upgrade_to_head
    from services.stack import EMBEDDED_DATABASE, ensure_database

    settings = get_settings()
    if settings.database_url is not None:
        upgrade_to_head(settings.database_url)
    else:
        postgres = embedded.start_postgres(settings.state_dir.resolve())
        try:
            upgrade_to_head(ensure_database(postgres.url, EMBEDDED_DATABASE))
        finally:
            postgres.stop()
    console.print("database is at the latest migration")


@app.command()
def serve(service: Service) -> None:
    """Run one HTTP service (the collector or the inference service) in the foreground."""
    import uvicorn

    settings = get_settings()
    if service is Service.collector:
        uvicorn.run(
            "services.collector.app:app",
            host=settings.host,
            port=settings.collector_port,
            workers=settings.collector_workers,
            access_log=False,
        )
    else:
        uvicorn.run(
            "services.inference.app:app", host=settings.host, port=settings.inference_port, access_log=False
        )


class ImportFormat(StrEnum):
    trl = "trl"
    hh = "hh"
    oasst = "oasst"


class ExportFormat(StrEnum):
    trl = "trl"
    raw = "raw"


UPLOAD_CHUNK = 1 << 20


def _dataset_id(client: httpx.Client, name: str, *, create: bool = False) -> int:
    """The id of the dataset called `name` (created with the defaults when `create` and it is missing)."""
    for dataset in check(client.get("/api/v1/datasets")).json()["data"]:
        if dataset["name"] == name:
            return int(dataset["id"])
    if not create:
        console.print(f"[red]error:[/red] no dataset named {name!r}")
        raise typer.Exit(1)
    created = check(client.post("/api/v1/datasets", json={"name": name})).json()
    console.print(f"created dataset {name!r} (id {created['id']})")
    return int(created["id"])


@app.command("import")
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
    with collector_client(timeout=3600) as client:
        dataset_id = _dataset_id(client, dataset, create=True)
        result = check(
            client.post(
                f"/api/v1/datasets/{dataset_id}/import",
                params={"format": format.value, "with_preferences": str(with_preferences).lower()},
                content=chunks(),
                headers={"Content-Type": "application/x-ndjson"},
            )
        ).json()
    console.print(f"imported {result['comparisons']} comparisons and {result['preferences']} preferences")


@app.command()
def export(
    dataset: str = typer.Argument(..., help="Dataset name"),
    format: ExportFormat = typer.Option(ExportFormat.trl, "--format"),
    output: Path = typer.Option(..., "-o", "--output", help="File to write (JSONL); '-' for standard output"),
) -> None:
    """Export a dataset as JSONL: trl (decided pairs with margins) or raw (every vote)."""
    with collector_client(timeout=3600) as client:
        dataset_id = _dataset_id(client, dataset)
        url = f"/api/v1/datasets/{dataset_id}/export"
        with client.stream("GET", url, params={"format": format.value}) as response:
            if response.is_error:
                response.read()
                check(response)
            if str(output) == "-":
                for chunk in response.iter_bytes():
                    sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
                return
            lines = 0
            partial = output.with_name(output.name + ".partial")
            with partial.open("wb") as sink:
                for chunk in response.iter_bytes():
                    lines += chunk.count(b"\n")
                    sink.write(chunk)
            partial.replace(output)  # a broken stream leaves no half-written file under the real name
    console.print(f"wrote {lines} lines to {output}")


if __name__ == "__main__":
    app()
