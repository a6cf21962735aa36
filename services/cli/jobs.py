"""Client commands for jobs: `rlhf jobs [list|show|logs|cancel]`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from services.cli.render import (
    console,
    fail_request,
    jobs_table,
    print_job_result,
    print_table,
    print_warnings,
)
from services.client import CollectorClient, CollectorError
from services.collector.schemas import JobPublic
from services.core.enums import JobStatus

jobs_app = typer.Typer(help="List jobs, show one, read its log, cancel it.", invoke_without_command=True)

JOB_ARGUMENT = typer.Argument(..., help="Job id.")


@jobs_app.callback()
def jobs(
    ctx: typer.Context,
    status: JobStatus | None = typer.Option(None, "--status", help="Only jobs in this status."),
    limit: int = typer.Option(30, "--limit", help="How many of the newest jobs."),
) -> None:
    """List jobs, newest first (the default): status, progress, ETA, dataset, model version."""
    if ctx.invoked_subcommand is None:
        list_(status=status, limit=limit)


@jobs_app.command("list")
def list_(
    status: JobStatus | None = typer.Option(None, "--status", help="Only jobs in this status."),
    limit: int = typer.Option(30, "--limit", help="How many of the newest jobs."),
) -> None:
    """List jobs, newest first: status, progress, ETA, dataset, model version."""
    with CollectorClient.from_settings() as client:
        try:
            page = client.list_jobs(status=status, limit=limit)
            names = {dataset.id: dataset.name for dataset in client.list_datasets()}
        except CollectorError as error:
            fail_request(error)
    print_table(jobs_table(page.data, names))
    for job in page.data:
        print_warnings(job)
    console.print(f"{page.count} jobs in all")


@jobs_app.command()
def show(
    job_id: int = JOB_ARGUMENT,
    curves: Path | None = typer.Option(None, "--curves", help="Save the training curves (PNG) to this file."),
) -> None:
    """Everything about a job: params, progress, times, metrics, result, where its training curves are."""
    with CollectorClient.from_settings() as client:
        try:
            job = client.get_job(job_id)
            names = {dataset.id: dataset.name for dataset in client.list_datasets()}
            version = client.get_model(job.model_version_id) if job.model_version_id else None
            if curves is not None:
                curves.write_bytes(client.curves(job_id=job_id))
        except CollectorError as error:
            fail_request(error)
        curves_url = client.curves_url(job_id=job_id)
    dataset = names.get(job.dataset_id, str(job.dataset_id)) if job.dataset_id else "- (deleted)"
    console.print(f"[bold]job {job.id}[/bold] {job.kind} on dataset {escape(dataset)!r}")
    console.print(f"base model: {escape(job.base_model or '(the kind default)')}")
    console.print(f"params: {escape(json.dumps(job.params, sort_keys=True))}")
    console.print(f"progress: {job.progress * 100:.0f}%, ETA {eta(job)}")
    console.print(
        f"created {_when(job)}; worker {escape(job.worker or '-')}, attempts {job.attempts}"
        + (", cancel requested" if job.cancel_requested else "")
    )
    print_job_result(job)
    if version is not None:
        console.print(f"artifacts: {escape(version.path)} (under RLHF_ARTIFACT_DIR)")
        console.print(f"training curves: {curves_url} (GET with the admin token; --curves FILE saves them)")
    if curves is not None:
        console.print(f"wrote the training curves to {curves}")
    console.print(f"log: rlhf jobs logs {job.id}", style="dim")


def _when(job: JobPublic) -> str:
    times = [("", job.created_at), ("started ", job.started_at), ("finished ", job.finished_at)]
    return ", ".join(f"{label}{moment:%Y-%m-%d %H:%M:%S}" for label, moment in times if moment is not None)


def eta(job: JobPublic) -> str:
    """Seconds left while running, as the worker last estimated them."""
    if job.status != JobStatus.RUNNING or job.eta_seconds is None:
        return "-"
    minutes, seconds = divmod(int(job.eta_seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


@jobs_app.command()
def logs(
    job_id: int = JOB_ARGUMENT,
    follow: bool = typer.Option(
        False,
        "--follow",
        "-f",
        help="Keep printing new lines until the job ends (exit 1 unless it succeeded).",
    ),
) -> None:
    """The tail of a job's log (the last lines the worker kept)."""
    with CollectorClient.from_settings() as client:
        try:
            if follow:
                final = client.follow(job_id, on_update=LogFollower().show)
            else:
                job = client.get_job(job_id)
        except CollectorError as error:
            fail_request(error)
    if not follow:
        console.print(
            escape(job.log_tail) if job.log_tail else f"(job {job_id} has logged nothing yet)", soft_wrap=True
        )
        return
    print_job_result(final)
    if final.status != JobStatus.SUCCEEDED:
        raise typer.Exit(1)


class LogFollower:
    """Prints the lines of each new log tail that the previous one did not end with. The tail is a window over
    the last lines the worker kept (training_jobs/context.py): new lines push old ones out of its start, and
    once it is at its size in characters its first line is cut, so that line may match nothing."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    def show(self, job: JobPublic) -> None:
        lines = job.log_tail.splitlines()
        start = _overlap(self.shown, lines)
        if start == 0 and self.shown and (after_cut := _overlap(self.shown, lines[1:])):
            start = 1 + after_cut
        for line in lines[start:]:
            console.print(escape(line), soft_wrap=True)
        self.shown = lines


def _overlap(before: list[str], after: list[str]) -> int:
    """The length of the longest end of `before` that `after` starts with."""
    for size in range(min(len(before), len(after)), 0, -1):
        if before[-size:] == after[:size]:
            return size
    return 0


@jobs_app.command()
def cancel(job_id: int = JOB_ARGUMENT) -> None:
    """Cancel a job: a queued one at once, a running one at its next training step."""
    with CollectorClient.from_settings() as client:
        try:
            job = client.cancel_job(job_id)
        except CollectorError as error:
            fail_request(error)
    if job.status == JobStatus.CANCELLED:
        console.print(f"job {job.id} cancelled")
    else:
        console.print(f"job {job.id} is {job.status}: it stops at its next training step")
