"""The `rlhf` command.

Server commands (`up`, `migrate`, `serve`, `worker`) run processes; client commands (`import`, `export`,
`train`, `jobs`, `models`) talk to the collector's HTTP API with the admin token, like any other client.
"""

from __future__ import annotations

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


if __name__ == "__main__":
    app()
