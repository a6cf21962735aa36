"""Client commands for annotators: `rlhf annotators [list|add|link|revoke|assign]`.

Tokens are stored hashed, so a sign-in link can only be printed when a token is issued: `add` prints it, and
`link` issues a new token (the old one, and every link made with it, stops working).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import typer
from rich.markup import escape
from rich.table import Table

from services.cli.data import dataset_id
from services.cli.render import console, fail, fail_request
from services.client import CollectorClient, CollectorError
from services.collector.schemas import AnnotatorCreated, AnnotatorPublic, DatasetPublic

annotators_app = typer.Typer(
    help="List, add, link, revoke annotators and assign them datasets.", invoke_without_command=True
)

DURATION = re.compile(r"^(\d+)([dhm])$")
DURATION_UNITS = {"d": "days", "h": "hours", "m": "minutes"}

ANNOTATOR_ARGUMENT = typer.Argument(..., help="Annotator id, or name when no other annotator has it.")
DATASETS_OPTION = typer.Option(
    None, "--dataset", "-d", help="A dataset they may work on (repeat for more); none given: every dataset."
)
BASE_URL_OPTION = typer.Option(
    None,
    "--base-url",
    help="The collector's address as annotators reach it (default: the one this command uses).",
)


def parse_expiry(value: str | None) -> datetime | None:
    """`30d`, `12h`, `90m` from now, or an ISO 8601 time (local time when it names no zone)."""
    if value is None:
        return None
    duration = DURATION.match(value.strip())
    if duration:
        amount, unit = duration.groups()
        return datetime.now().astimezone() + timedelta(**{DURATION_UNITS[unit]: int(amount)})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"--expires {value!r} is neither a duration (30d, 12h, 90m) nor an ISO 8601 time")
    return moment if moment.tzinfo is not None else moment.astimezone()


EXPIRES_OPTION = typer.Option(
    None, "--expires", help="When the token stops working: 30d, 12h, 90m from now, or an ISO 8601 time."
)


def find_annotator(client: CollectorClient, which: str) -> AnnotatorPublic:
    everyone = client.list_annotators()
    if which.isdigit():
        found = [annotator for annotator in everyone if annotator.id == int(which)]
    else:
        found = [annotator for annotator in everyone if annotator.name == which]
    if not found:
        fail(f"no annotator {which!r} (rlhf annotators list shows them)")
    if len(found) > 1:
        fail(
            f"{len(found)} annotators are called {which!r}: name one by its id ({', '.join(str(a.id) for a in found)})"
        )
    return found[0]


def annotators_table(annotators: list[AnnotatorPublic], datasets: list[DatasetPublic]) -> Table:
    names = {dataset.id: dataset.name for dataset in datasets}
    table = Table("id", "name", "status", "datasets", "votes", "skips", "last vote", "expires")
    for annotator in annotators:
        assigned = (
            "all"
            if annotator.all_datasets
            else ", ".join(names.get(dataset, str(dataset)) for dataset in annotator.datasets) or "none"
        )
        table.add_row(
            str(annotator.id),
            escape(annotator.name),
            annotator.status.value,
            escape(assigned),
            str(annotator.votes),
            str(annotator.skips),
            _when(annotator.last_vote_at),
            _when(annotator.expires_at),
        )
    return table


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "-"


def print_links(client: CollectorClient, created: AnnotatorCreated, base_url: str | None) -> None:
    """The sign-in link(s): one per assigned dataset, else one that opens the dataset list."""
    targets: list[int | None] = list(created.datasets) if not created.all_datasets else [None]
    for target in targets or [None]:
        console.print(
            client.sign_in_link(created.token, dataset_id=target, base_url=base_url), soft_wrap=True
        )
    console.print(
        "The link signs them in; it is shown only now (tokens are stored hashed). "
        "`rlhf annotators link` issues a new one.",
        style="dim",
    )


@annotators_app.callback()
def annotators(ctx: typer.Context) -> None:
    """List annotators (the default): status, datasets and vote counts."""
    if ctx.invoked_subcommand is None:
        list_()


@annotators_app.command("list")
def list_() -> None:
    """List annotators: status (active, revoked, expired), datasets and vote counts."""
    with CollectorClient.from_settings() as client:
        try:
            table = annotators_table(client.list_annotators(), client.list_datasets())
        except CollectorError as error:
            fail_request(error)
    console.print(table)


@annotators_app.command()
def add(
    name: str = typer.Argument(..., help="Who they are (shown in stats and exports)."),
    datasets: list[str] | None = DATASETS_OPTION,
    expires: str | None = EXPIRES_OPTION,
    base_url: str | None = BASE_URL_OPTION,
) -> None:
    """Issue an annotator and print their sign-in link (shown this once)."""
    expires_at = parse_expiry(expires)
    with CollectorClient.from_settings() as client:
        try:
            ids = [dataset_id(client, dataset) for dataset in datasets] if datasets else None
            created = client.create_annotator(name, expires_at=expires_at, datasets=ids)
        except CollectorError as error:
            fail_request(error)
        console.print(f"annotator {created.id} {escape(created.name)!r} created; their sign-in link:")
        print_links(client, created, base_url)


@annotators_app.command()
def link(
    annotator: str = ANNOTATOR_ARGUMENT,
    dataset: str | None = typer.Option(None, "--dataset", "-d", help="Open this dataset after sign-in."),
    expires: str | None = EXPIRES_OPTION,
    base_url: str | None = BASE_URL_OPTION,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Issue a NEW token and print its sign-in link: the old token and every link made with it stop working."""
    with CollectorClient.from_settings() as client:
        try:
            found = find_annotator(client, annotator)
            target = dataset_id(client, dataset) if dataset else None
            console.print(
                f"[yellow]warning:[/yellow] tokens are stored hashed, so a link needs a new token: "
                f"{escape(found.name)!r}'s current token and sign-in link stop working now, and any browser "
                "signed in with it is signed out."
            )
            if not yes and not typer.confirm("Issue a new token?"):
                raise typer.Exit(1)
            created = (
                client.rotate_annotator_token(found.id, expires_at=parse_expiry(expires))
                if expires
                else client.rotate_annotator_token(found.id)
            )
        except CollectorError as error:
            fail_request(error)
        if target is not None:
            console.print(
                client.sign_in_link(created.token, dataset_id=target, base_url=base_url), soft_wrap=True
            )
        else:
            print_links(client, created, base_url)


@annotators_app.command()
def revoke(annotator: str = ANNOTATOR_ARGUMENT) -> None:
    """Refuse the annotator's token from now on; their leased comparisons go back to the pool, votes stay."""
    with CollectorClient.from_settings() as client:
        try:
            revoked = client.revoke_annotator(find_annotator(client, annotator).id)
        except CollectorError as error:
            fail_request(error)
    console.print(f"annotator {revoked.id} {escape(revoked.name)!r} revoked ({revoked.votes} votes kept)")


@annotators_app.command()
def assign(
    annotator: str = ANNOTATOR_ARGUMENT,
    datasets: list[str] | None = DATASETS_OPTION,
    all_datasets: bool = typer.Option(False, "--all", help="Every dataset, present and future."),
) -> None:
    """Set the datasets an annotator may work on (their leases elsewhere go back to the pool)."""
    if all_datasets == bool(datasets):
        fail("give either --dataset NAME (one or more) or --all")
    with CollectorClient.from_settings() as client:
        try:
            found = find_annotator(client, annotator)
            ids = None if all_datasets else [dataset_id(client, dataset) for dataset in datasets or []]
            updated = client.assign_datasets(found.id, ids)
        except CollectorError as error:
            fail_request(error)
    scope = "every dataset" if updated.all_datasets else ", ".join(datasets or [])
    console.print(f"annotator {updated.id} {escape(updated.name)!r} works on {escape(scope)}")
