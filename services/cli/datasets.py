"""Client commands for datasets: `rlhf datasets [list|create|show|delete]` and `rlhf stats DATASET`.

A dataset is named on the command line by its name, or by its id when no dataset is called that.
"""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from services.cli.render import console, fail, fail_request, print_table
from services.client import CollectorClient, CollectorError
from services.collector.schemas import MAX_ANNOTATIONS_PER_COMPARISON, DatasetPublic
from services.collector.stats_schemas import StatsPublic
from services.core.enums import DatasetKind, Sampling, SourceFilter

datasets_app = typer.Typer(help="List, create, show and delete datasets.", invoke_without_command=True)

DATASET_ARGUMENT = typer.Argument(..., help="Dataset name, or id.")
# What `create` and `set` both take (the API checks the same bounds: services/collector/schemas.py).
GUIDELINES_HELP = "What annotators read before judging."
ANNOTATIONS_HELP = "Annotators who judge each comparison."
GOLD_RATE_HELP = "Chance that `next` offers a gold item (docs/quality.md)."
SAMPLING_HELP = "The order annotators get comparisons in (docs/quality.md)."


def find_dataset(client: CollectorClient, which: str) -> DatasetPublic:
    """The dataset called `which`, else the one whose id it is."""
    found = client.find_dataset(which)
    if found is None and which.isdigit():
        found = next((dataset for dataset in client.list_datasets() if dataset.id == int(which)), None)
    if found is None:
        fail(f"no dataset {which!r} (rlhf datasets lists them)")
    return found


def datasets_table(datasets: list[DatasetPublic]) -> Table:
    table = Table(
        "id", "name", "kind", "examples", "comparisons", "complete", "votes", "skips", "votes needed",
        "per comparison",
    )  # fmt: skip
    for dataset in datasets:
        table.add_row(
            str(dataset.id),
            escape(dataset.name),
            dataset.kind.value,
            str(dataset.examples),
            str(dataset.comparisons),
            str(dataset.complete),
            str(dataset.votes),
            str(dataset.skips),
            str(dataset.votes_needed),
            str(dataset.annotations_per_comparison),
        )
    return table


@datasets_app.callback()
def datasets(ctx: typer.Context) -> None:
    """List datasets (the default) with their progress."""
    if ctx.invoked_subcommand is None:
        list_()


@datasets_app.command("list")
def list_() -> None:
    """List datasets with their progress: comparisons, complete, votes, skips, votes still needed."""
    with CollectorClient.from_settings() as client:
        try:
            found = client.list_datasets()
        except CollectorError as error:
            fail_request(error)
    print_table(datasets_table(found))


@datasets_app.command()
def create(
    name: str = typer.Argument(..., help="A name no other dataset has."),
    kind: DatasetKind = typer.Option(
        DatasetKind.PREFERENCE, "--kind", help="What it holds: comparisons for annotators, or examples."
    ),
    guidelines: str = typer.Option("", "--guidelines", help=GUIDELINES_HELP),
    annotations: int = typer.Option(
        1, "--annotations", min=1, max=MAX_ANNOTATIONS_PER_COMPARISON, help=ANNOTATIONS_HELP
    ),
    gold_rate: float = typer.Option(0.0, "--gold-rate", min=0.0, max=1.0, help=GOLD_RATE_HELP),
    sampling: Sampling = typer.Option(Sampling.SEQUENTIAL, "--sampling", help=SAMPLING_HELP),
    reward: str | None = typer.Option(
        None, "--reward", help="The named reward uncertainty sampling scores with (default: `default`)."
    ),
) -> None:
    """Create an empty dataset (`rlhf import` fills it)."""
    with CollectorClient.from_settings() as client:
        try:
            created = client.create_dataset(
                name,
                kind=kind,
                guidelines=guidelines,
                annotations_per_comparison=annotations,
                gold_rate=gold_rate,
                sampling=sampling,
                reward=reward,
            )
        except CollectorError as error:
            fail_request(error)
    console.print(f"created {created.kind.value} dataset {escape(created.name)!r} (id {created.id})")


@datasets_app.command("set")
def set_(
    dataset: str = DATASET_ARGUMENT,
    gold_rate: float | None = typer.Option(None, "--gold-rate", min=0.0, max=1.0, help=GOLD_RATE_HELP),
    sampling: Sampling | None = typer.Option(None, "--sampling", help=SAMPLING_HELP),
    reward: str | None = typer.Option(
        None, "--reward", help="The named reward uncertainty sampling scores with; `default` goes back to it."
    ),
    guidelines: str | None = typer.Option(None, "--guidelines", help=GUIDELINES_HELP),
    annotations: int | None = typer.Option(
        None,
        "--annotations",
        min=1,
        max=MAX_ANNOTATIONS_PER_COMPARISON,
        help=ANNOTATIONS_HELP + " A new value re-decides which comparisons are complete.",
    ),
) -> None:
    """Change a dataset's guidelines, annotations per comparison, gold rate, sampling or reward
    (docs/quality.md)."""
    changes: dict[str, object] = {}
    if guidelines is not None:
        changes["guidelines"] = guidelines
    if annotations is not None:
        changes["annotations_per_comparison"] = annotations
    if gold_rate is not None:
        changes["gold_rate"] = gold_rate
    if sampling is not None:
        changes["sampling"] = sampling.value
    if reward is not None:
        changes["reward"] = None if reward == "default" else reward
    if not changes:
        fail("nothing to change: give --guidelines, --annotations, --gold-rate, --sampling or --reward")
    with CollectorClient.from_settings() as client:
        try:
            updated = client.update_dataset(find_dataset(client, dataset).id, changes)
        except CollectorError as error:
            fail_request(error)
    console.print(
        f"annotations per comparison: {updated.annotations_per_comparison}; gold rate: {updated.gold_rate:g}; "
        f"sampling: {escape(updated.sampling_state)}"
    )


@datasets_app.command()
def show(dataset: str = DATASET_ARGUMENT) -> None:
    """A dataset's settings, guidelines and progress."""
    with CollectorClient.from_settings() as client:
        try:
            found = find_dataset(client, dataset)
        except CollectorError as error:
            fail_request(error)
    console.print(
        f"[bold]{escape(found.name)}[/bold] (id {found.id}, created {found.created_at:%Y-%m-%d %H:%M})"
    )
    console.print(f"kind: {found.kind.value}; annotations per comparison: {found.annotations_per_comparison}")
    console.print(f"gold rate: {found.gold_rate:g}; sampling: {escape(found.sampling_state)}")
    console.print(f"reward: {escape(found.reward or 'default')}")
    if found.examples:
        console.print(f"examples: {found.examples}")
    console.print(
        f"comparisons: {found.comparisons} ({found.complete} complete, {found.remaining} open); "
        f"votes: {found.votes}, skips: {found.skips}, votes still needed: {found.votes_needed}"
    )
    console.print("guidelines:", escape(found.guidelines) if found.guidelines else "(none)")


@datasets_app.command()
def delete(
    dataset: str = DATASET_ARGUMENT,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a dataset with its comparisons and votes (refused while a queued or running job uses it)."""
    with CollectorClient.from_settings() as client:
        try:
            found = find_dataset(client, dataset)
            console.print(
                f"[yellow]warning:[/yellow] this deletes {escape(found.name)!r} with its {found.comparisons} "
                f"comparisons, {found.examples} examples and {found.votes + found.skips} votes; it cannot be "
                "undone."
            )
            if not yes and not typer.confirm("Delete it?"):
                raise typer.Exit(1)
            client.delete_dataset(found.id)
        except CollectorError as error:
            fail_request(error)
    console.print(f"deleted dataset {escape(found.name)!r} (id {found.id})")


def stats(
    dataset: str = DATASET_ARGUMENT,
    source: SourceFilter = typer.Option(
        SourceFilter.HUMAN,
        "--source",
        help="Whose votes the choices, agreement and win rates count: human, ai or all.",
    ),
) -> None:
    """A dataset's counts, choices, per-annotator work, agreement, policy win rates, and each AI judge's
    agreement with people."""
    with CollectorClient.from_settings() as client:
        try:
            found = find_dataset(client, dataset)
            answer = client.stats(found.id, source=source)
        except CollectorError as error:
            fail_request(error)
    print_stats(found, answer)


def print_stats(dataset: DatasetPublic, answer: StatsPublic) -> None:
    choices = answer.choices
    console.print(f"[bold]{escape(dataset.name)}[/bold] (id {dataset.id})")
    console.print(
        f"comparisons: {answer.comparisons} ({answer.complete} complete); votes: {answer.votes}, "
        f"skips: {answer.skips}"
    )
    console.print(
        f"choices: a {choices.a}, b {choices.b}, tie {choices.tie}, both bad {choices.both_bad}, "
        f"skip {choices.skip}"
    )
    agreement = answer.agreement
    alpha = "-" if agreement.krippendorff_alpha is None else f"{agreement.krippendorff_alpha:.3f}"
    percent = "-" if agreement.percent_agreement is None else f"{agreement.percent_agreement:.1%}"
    console.print(
        f"agreement: Krippendorff's alpha {alpha}, {percent} of {agreement.pairs} vote pairs "
        f"on {agreement.comparisons} comparisons"
    )
    if answer.annotators:
        table = Table("annotator", "votes", "skips", "median time per judgement")
        for annotator in answer.annotators:
            median = annotator.median_time_spent_ms
            table.add_row(
                escape(annotator.name),
                str(annotator.votes),
                str(annotator.skips),
                "-" if median is None else f"{median / 1000:.1f}s",
            )
        print_table(table)
    if answer.win_rates:
        table = Table("version a", "version b", "wins a", "wins b", "ties", "win rate a", "95% interval")
        for rate in answer.win_rates:
            table.add_row(
                str(rate.version_a),
                str(rate.version_b),
                str(rate.wins_a),
                str(rate.wins_b),
                str(rate.ties),
                f"{rate.win_rate_a:.3f}",
                f"{rate.ci95_low:.3f}-{rate.ci95_high:.3f} ({rate.interval})",
            )
        print_table(table)
    if answer.ai_agreement:
        table = Table("AI judge", "comparisons", "agreement with people", "95% interval", "Cohen's kappa")
        for judge in answer.ai_agreement:
            interval = judge.agreement_ci95
            table.add_row(
                escape(judge.name),
                str(judge.comparisons),
                "-" if judge.agreement is None else f"{judge.agreement:.1%}",
                "-" if interval is None else f"{interval[0]:.1%}-{interval[1]:.1%}",
                "-" if judge.cohen_kappa is None else f"{judge.cohen_kappa:.3f}",
            )
        print_table(table)
