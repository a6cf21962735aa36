"""Client commands for the quality of the work: `rlhf annotators quality DATASET`, `rlhf annotators unpause`,
and `rlhf gold COMPARISON ANSWER` (docs/quality.md)."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from services.cli.annotators import ANNOTATOR_ARGUMENT, annotators_app, find_annotator
from services.cli.data import dataset_id
from services.cli.render import console, fail, fail_request
from services.client import CollectorClient, CollectorError
from services.collector.quality_schemas import AnnotatorQualityPublic
from services.core.enums import JUDGEMENTS

DATASET_ARGUMENT = typer.Argument(..., help="Dataset name")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value / 1000:.1f}s"


def quality_table(items: list[AnnotatorQualityPublic]) -> Table:
    table = Table(title="annotators on this dataset (trust: docs/quality.md)")
    for column in ("id", "name", "votes", "gold right", "gold 95% CI", "majority", "median", "p10"):
        table.add_column(column)
    for column in ("left", "trust", "state"):
        table.add_column(column)
    for q in items:
        interval = "-" if q.gold_ci95_low is None else f"{_share(q.gold_ci95_low)}-{_share(q.gold_ci95_high)}"
        state = [] if not q.paused else ["[red]paused[/red]"]
        if q.fast:
            state.append("[yellow]fast[/yellow]")
        table.add_row(
            str(q.annotator_id),
            escape(q.name),
            str(q.votes),
            f"{q.gold_correct}/{q.gold_answered}",
            interval,
            f"{_share(q.majority_agreement)} of {q.majority_shared}",
            _ms(q.median_ms),
            _ms(q.p10_ms),
            _share(q.left_share),
            f"{q.trust:.2f}",
            " ".join(state) or "ok",
        )
    return table


@annotators_app.command()
def quality(dataset: str = DATASET_ARGUMENT) -> None:
    """Per annotator on a dataset: gold accuracy, majority agreement, time per judgement, position bias,
    trust, and whether they are paused or flagged as too fast."""
    with CollectorClient.from_settings() as client:
        try:
            items = client.annotator_quality(dataset_id(client, dataset))
        except CollectorError as error:
            fail_request(error)
    console.print(quality_table(items))
    for q in items:
        if q.pause_reason:
            console.print(f"{escape(q.name)}: {escape(q.pause_reason)}")


@annotators_app.command()
def unpause(
    annotator: str = ANNOTATOR_ARGUMENT,
    dataset: str = typer.Option(..., "--dataset", "-d", help="The dataset they are paused on."),
) -> None:
    """Lift an annotator's pause on a dataset; their gold answers count afresh from now on."""
    with CollectorClient.from_settings() as client:
        try:
            found = find_annotator(client, annotator)
            client.lift_pause(dataset_id(client, dataset), found.id)
        except CollectorError as error:
            fail_request(error)
    console.print(f"annotator {found.id} {escape(found.name)!r} may work on {escape(dataset)} again")


def gold(
    comparison: int = typer.Argument(..., help="Comparison id"),
    answer: str = typer.Argument(..., help="The known answer: a, b or tie; 'none' makes it ordinary again."),
) -> None:
    """Mark a comparison as a gold item with its known answer (or, with 'none', unmark it)."""
    if answer != "none" and answer not in list(JUDGEMENTS):
        fail(f"answer must be one of {', '.join(JUDGEMENTS)} or none")
    with CollectorClient.from_settings() as client:
        try:
            marked = client.set_gold(comparison, None if answer == "none" else answer)
        except CollectorError as error:
            fail_request(error)
    state = f"gold, answer {marked.gold}" if marked.gold else "an ordinary comparison"
    console.print(f"comparison {marked.comparison_id} is {state}")
