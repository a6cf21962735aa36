"""What the CLI shows: the console, errors, a job's progress bar and result, the jobs and models tables, and
what a job kind takes (for `rlhf train KIND --help`)."""

from __future__ import annotations

import json
import time
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table

from services.client import CollectorClient, CollectorError
from services.collector.schemas import JobPublic, ModelVersionPublic
from services.core.enums import JobStatus, ModelKind
from services.core.inputs import MAX_ID
from services.domain.job_params import KindDescription, ParamDescription

console = Console()

STATUS_COLOURS = {JobStatus.SUCCEEDED: "green", JobStatus.FAILED: "red", JobStatus.CANCELLED: "yellow"}
# Metrics worth a column in `rlhf models`, by version kind.
MODEL_TABLE_METRICS = {
    ModelKind.REWARD: ("eval_accuracy", "eval_pairs"),
    ModelKind.POLICY: ("reward_after", "kl"),
}


def fail(message: str, *, code: int = 1) -> NoReturn:
    console.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def fail_request(error: CollectorError) -> NoReturn:
    """The API's own message first, then which request, where its URL and its token came from."""
    console.print(f"[red]{escape(error.message)}[/red]")
    console.print(
        f"({escape(error.request)}; URL from {escape(error.url_source)}; token from {escape(error.token_source)})",
        style="dim",
    )
    raise typer.Exit(1)


def follow_job(client: CollectorClient, job_id: int, *, deadline: float | None = None) -> JobPublic:
    """Follow a job with a progress bar (status, ETA, latest loss) until it ends; return its final state.
    TimeoutError once time.monotonic() passes `deadline` with the job still running (the job is left as is)."""
    columns = (
        TextColumn("[bold]{task.fields[status]:<9}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("ETA {task.fields[eta]}"),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(f"job {job_id}", total=1.0, status=JobStatus.QUEUED.value, eta="-", detail="")

        def show(job: JobPublic) -> None:
            loss = job.metrics.get("loss")
            running = job.eta_seconds is not None and job.status == JobStatus.RUNNING
            bar.update(
                task,
                completed=job.progress,
                status=job.status.value,
                eta=f"{job.eta_seconds:.0f}s" if running else "-",
                detail=f"loss {loss:.4g}" if isinstance(loss, int | float) else "",
            )
            if deadline is not None and not job.status.finished and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} at the deadline")

        return client.follow(job_id, on_update=show)


def print_job_result(job: JobPublic) -> None:
    colour = STATUS_COLOURS.get(job.status, "white")
    console.print(f"job {job.id} [{colour}]{job.status}[/{colour}]")
    if job.error:
        console.print(f"error: {escape(job.error)}")
    if job.model_version_id:
        console.print(f"model version id {job.model_version_id} (rlhf models promote {job.model_version_id})")
    for key, value in sorted(job.metrics.items()):
        if isinstance(value, int | float | str):
            console.print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
        elif key.endswith("_ci95") and isinstance(value, list):
            console.print(f"  {key}: [{', '.join(f'{bound:.4g}' for bound in value)}]")
    print_warnings(job)


def print_warnings(job: JobPublic) -> None:
    """The job's metrics.warnings, one line each (training_jobs/metric_warnings.py writes them)."""
    warnings = job.metrics.get("warnings")
    for warning in warnings if isinstance(warnings, list) else []:
        console.print(f"[yellow]job {job.id} warning:[/yellow] {escape(str(warning))}")


def jobs_table(jobs: list[JobPublic], dataset_names: dict[int, str]) -> Table:
    table = Table("id", "kind", "status", "progress", "ETA", "dataset", "model", "created", "error")
    for job in jobs:
        dataset = dataset_names.get(job.dataset_id, str(job.dataset_id)) if job.dataset_id else "-"
        running = job.status == JobStatus.RUNNING and job.eta_seconds is not None
        table.add_row(
            str(job.id),
            job.kind,
            job.status.value,
            f"{job.progress * 100:.0f}%",
            f"{job.eta_seconds:.0f}s" if running and job.eta_seconds is not None else "-",
            escape(dataset),
            str(job.model_version_id or "-"),
            job.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(_first_line(job.error or "")),
        )
    return table


def _first_line(text: str, limit: int = 120) -> str:
    """What fits in a table cell; `rlhf jobs show ID` prints the whole error."""
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def print_table(table: Table) -> None:
    """A table at its natural width: in a terminal Rich wraps cells to fit, but piped output (80 columns
    by default) would squeeze every column, so there the table gets the width it needs."""
    if console.is_terminal:
        console.print(table)
        return
    needed = Measurement.get(console, console.options.update(max_width=10_000), table).maximum
    # Console.print caps `width` at the console's own: a console of the needed width prints it.
    Console(file=console.file, width=max(needed, console.width)).print(table)


def models_table(versions: list[ModelVersionPublic]) -> Table:
    table = Table("id", "name", "kind", "base model", "metrics", "promoted", "created")
    for version in versions:
        shown = MODEL_TABLE_METRICS.get(version.kind, ())
        metrics = ", ".join(
            f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
            for key in shown
            if (value := version.metrics.get(key)) is not None
        )
        table.add_row(
            str(version.id),
            version.name,
            version.kind.value,
            escape(version.base_model),
            metrics,
            "yes" if version.promoted else "",
            version.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    return table


def kind_help(described: KindDescription) -> str:
    """The params section of `rlhf train KIND --help` (rich markup; lines kept as they are)."""
    lines = ["[bold]Params[/bold] (--params JSON): the kind's own"]
    lines += [_param_line(param) for param in described.params]
    if described.trl_config:
        defaults = ", ".join(f"{name}={json.dumps(value)}" for name, value in described.trl_defaults.items())
        lines += [
            "",
            f"and every field of TRL's {described.trl_config} by its TRL name (e.g. learning_rate); "
            f"before them, the platform and this kind set {escape(defaults)}.",
        ]
    if described.default_base_model:
        lines += ["", f"Default --base-model: {described.default_base_model}"]
    lines += ["", f"--dataset: a {' or '.join(described.dataset_kinds)} dataset"]
    lines += [
        "",
        "Precedence: explicit params > recipe (params.recipe) > the base model's defaults > the kind's.",
    ]
    for title, presets in (
        ("Base model defaults", described.base_model_defaults),
        ("Recipes", described.recipes),
    ):
        if presets:
            lines += ["", f"[bold]{title}[/bold]"]
            lines += [
                f"  [cyan]{escape(name)}[/cyan]: {escape(json.dumps(values))}"
                for name, values in presets.items()
            ]
    return "\n".join(lines)


def _param_line(param: ParamDescription, indent: str = "  ") -> str:
    bounds = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    limits = ", ".join(f"{bounds[name]} {value}" for name, value in param.bounds.items() if value != MAX_ID)
    choices = " | ".join(map(str, param.choices))
    facts = ", ".join(
        part
        for part in ("/".join(param.types), f"default {json.dumps(_plain(param.default))}", limits, choices)
        if part
    )
    line = f"{indent}[cyan]{param.name}[/cyan] ({escape(facts)}): {escape(param.help)}"
    return "\n".join([line, *(_param_line(field, indent + "    ") for field in param.fields)])


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)
