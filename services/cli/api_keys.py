"""Client commands for API keys: `rlhf api-keys [list|add|revoke]` (the admin's)."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from services.cli.annotators import EXPIRES_OPTION, parse_expiry
from services.cli.render import console, fail_request
from services.client import CollectorClient, CollectorError
from services.core.enums import ApiKeyScope

api_keys_app = typer.Typer(
    help="List, add and revoke API keys (for CI jobs, clusters, workers).", invoke_without_command=True
)


@api_keys_app.callback()
def api_keys(ctx: typer.Context) -> None:
    """List API keys (the default): scopes and status, never the keys."""
    if ctx.invoked_subcommand is None:
        list_()


@api_keys_app.command("list")
def list_() -> None:
    """List API keys: scopes, status (active, revoked, expired), expiry."""
    with CollectorClient.from_settings() as client:
        try:
            keys = client.list_api_keys()
        except CollectorError as error:
            fail_request(error)
    table = Table("id", "name", "scopes", "status", "created", "expires")
    for key in keys:
        table.add_row(
            str(key.id),
            escape(key.name),
            ", ".join(key.scopes),
            key.status.value,
            key.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            key.expires_at.astimezone().strftime("%Y-%m-%d %H:%M") if key.expires_at else "-",
        )
    console.print(table)


@api_keys_app.command()
def add(
    name: str = typer.Argument(..., help="What the key is for (a CI job, a cluster)."),
    scopes: list[ApiKeyScope] = typer.Option(
        ...,
        "--scope",
        "-s",
        help="infer (the inference service), read (GET routes, exports), train (jobs, models), admin; repeat for more.",
    ),
    expires: str | None = EXPIRES_OPTION,
) -> None:
    """Issue an API key and print it (shown this once: it is stored hashed)."""
    with CollectorClient.from_settings() as client:
        try:
            created = client.create_api_key(name, scopes, expires_at=parse_expiry(expires))
        except CollectorError as error:
            fail_request(error)
    console.print(f"API key {created.id} {escape(created.name)!r} ({', '.join(created.scopes)}):")
    console.print(created.key, soft_wrap=True, markup=False)
    console.print("It is shown only now (keys are stored hashed).", style="dim")


@api_keys_app.command()
def revoke(key_id: int = typer.Argument(..., help="The key's id (rlhf api-keys list shows them).")) -> None:
    """Refuse the key from its next request on, on both services."""
    with CollectorClient.from_settings() as client:
        try:
            client.revoke_api_key(key_id)
        except CollectorError as error:
            fail_request(error)
    console.print(f"API key {key_id} revoked")
