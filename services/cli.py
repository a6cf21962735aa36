"""The `rlhf` command.

Server commands (`up`, `migrate`, `serve`, `worker`) run processes; client commands (`import`, `export`,
`train`, `jobs`, `models`) talk to the collector's HTTP API with the admin token, like any other client.
"""

from __future__ import annotations

from enum import StrEnum

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


if __name__ == "__main__":
    app()
