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

from services.core.enums import FINISHED_JOB_STATUSES, ExportFormat, ImportFormat, JobKind
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
def demo() -> None:
    """The whole loop, headless, on its own stack (embedded unless URLs are set): SFT, reward model, PPO,
    new-vs-old comparisons judged through the annotation API, win rate; prints a report."""
    from services import demo_loop
    from services.stack import running_stack

    settings = get_settings()
    log_dir = settings.state_dir.resolve() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"process logs: {log_dir}")
    try:
        with running_stack(
            settings, demo=False, with_worker=True, with_inference=True, console=console, log_dir=log_dir
        ) as stack:
            code = demo_loop.run(
                collector_url=stack.collector_url,
                inference_url=stack.inference_url,
                admin_token=stack.admin_token,
                console=console,
            )
    except RuntimeError as error:
        console.print(f"[red]{error}[/red] (see {log_dir})")
        code = 1
    raise typer.Exit(code)


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
    format: ExportFormat = typer.Option(ExportFormat.TRL, "--format"),
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


# --- Training: worker, jobs, model versions -------------------------------------------------------------


@app.command()
def worker(
    loglevel: str = typer.Option("INFO", "--loglevel", help="Celery log level."),
    hostname: str | None = typer.Option(
        None, "--hostname", help="Worker node name (default: celery@<host>)."
    ),
) -> None:
    """Run a training worker: Celery on the `gpu` queue, one job at a time (--pool solo; CUDA does not fork)."""
    from celery.bin.celery import celery as celery_command

    from services.core.settings import GPU_QUEUE
    from services.queue.broker import WORKER_APP_MODULE

    # `celery -A training_jobs.celery_app worker ...` in this process: the worker imports the training code,
    # the CLI only names it.
    argv = [
        "--app",
        WORKER_APP_MODULE,
        "worker",
        "--pool=solo",
        "--concurrency=1",
        f"--queues={GPU_QUEUE}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    celery_command.main(args=argv, prog_name="rlhf worker")


@app.command()
def train(
    kind: JobKind = typer.Argument(..., help="Job kind."),
    dataset: str = typer.Option(..., "--dataset", help="Dataset name (its preferences or prompts)."),
    base_model: str | None = typer.Option(
        None,
        "--base-model",
        help="HF id, local path, builtin:tiny-gpt2 or sentence-transformers/all-MiniLM-L6-v2.",
    ),
    params: str | None = typer.Option(
        None,
        "--params",
        help="JSON object: TRL config fields and job params, e.g. '{\"learning_rate\": 1e-5}'.",
    ),
    wait: bool = typer.Option(False, "--wait", help="Follow the job with a progress bar until it ends."),
) -> None:
    """Queue a training job (reward_model, ppo, sft, dpo, rloo, generate_comparisons)."""
    import json

    try:
        parsed = json.loads(params) if params else {}
    except json.JSONDecodeError as error:
        console.print(f"[red]error:[/red] --params is not valid JSON: {error}")
        raise typer.Exit(1) from None
    if not isinstance(parsed, dict):
        console.print("[red]error:[/red] --params must be a JSON object")
        raise typer.Exit(1)
    with collector_client() as client:
        body = {"kind": kind.value, "dataset_id": _dataset_id(client, dataset), "params": parsed}
        if base_model is not None:
            body["base_model"] = base_model
        job = check(client.post("/api/v1/jobs", json=body)).json()
        console.print(f"job {job['id']} queued ({kind.value} on dataset {dataset!r})")
        if wait:
            final = follow_job(client, job["id"])
            _print_job_result(final)
            if final["status"] != "succeeded":
                raise typer.Exit(1)


def follow_job(client: httpx.Client, job_id: int, *, poll_seconds: float = 1.0) -> dict:
    """Poll a job, showing progress, ETA and the latest loss, until it ends; return the final job."""
    import time

    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    columns = (
        TextColumn("[bold]{task.fields[status]:<9}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("ETA {task.fields[eta]}"),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(f"job {job_id}", total=1.0, status="queued", eta="-", detail="")
        while True:
            job = check(client.get(f"/api/v1/jobs/{job_id}")).json()
            eta = job.get("eta_seconds")
            loss = job["metrics"].get("loss")
            bar.update(
                task,
                completed=job["progress"],
                status=job["status"],
                eta=f"{eta:.0f}s" if eta is not None and job["status"] == "running" else "-",
                detail=f"loss {loss:.4g}" if isinstance(loss, int | float) else "",
            )
            if job["status"] in FINISHED_JOB_STATUSES:
                return job
            time.sleep(poll_seconds)


def _print_job_result(job: dict) -> None:
    colour = {"succeeded": "green", "failed": "red", "cancelled": "yellow"}.get(job["status"], "white")
    console.print(f"job {job['id']} [{colour}]{job['status']}[/{colour}]")
    if job.get("error"):
        console.print(f"error: {job['error']}")
    if job.get("model_version_id"):
        console.print(
            f"model version id {job['model_version_id']} (rlhf models promote {job['model_version_id']})"
        )
    for key, value in sorted(job["metrics"].items()):
        if isinstance(value, int | float | str):
            console.print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")


@app.command()
def jobs(
    status: str | None = typer.Option(None, "--status", help="Only jobs in this status."),
    limit: int = typer.Option(30, "--limit", help="How many of the newest jobs."),
) -> None:
    """List jobs, newest first."""
    from rich.table import Table

    query: dict[str, str | int] = {"limit": limit}
    if status:
        query["status"] = status
    with collector_client() as client:
        page = check(client.get("/api/v1/jobs", params=query)).json()
    table = Table("id", "kind", "status", "progress", "dataset", "model", "created", "error")
    for job in page["data"]:
        table.add_row(
            str(job["id"]),
            job["kind"],
            job["status"],
            f"{job['progress'] * 100:.0f}%",
            str(job["dataset_id"] or "-"),
            str(job["model_version_id"] or "-"),
            job["created_at"][:19].replace("T", " "),
            (job["error"] or "")[:60],
        )
    console.print(table)
    console.print(f"{page['count']} jobs in all")


# Metrics worth a column in `rlhf models`, by version kind.
MODEL_TABLE_METRICS = {"reward": ("eval_accuracy", "eval_pairs"), "policy": ("reward_after", "kl")}


@app.command()
def models(
    action: str | None = typer.Argument(None, help="'promote' to make a version the active one of its kind."),
    version_id: int | None = typer.Argument(None, help="Model version id (with promote)."),
) -> None:
    """List model versions, or `rlhf models promote ID`."""
    from rich.table import Table

    with collector_client() as client:
        if action is not None:
            if action != "promote" or version_id is None:
                console.print("[red]error:[/red] usage: rlhf models [promote ID]")
                raise typer.Exit(2)
            version = check(client.post(f"/api/v1/models/{version_id}/promote")).json()
            console.print(f"promoted {version['name']} (the active {version['kind']} model)")
            return
        page = check(client.get("/api/v1/models")).json()
    table = Table("id", "name", "kind", "base model", "metrics", "promoted", "created")
    for version in page["data"]:
        shown = MODEL_TABLE_METRICS.get(version["kind"], ())
        metrics = ", ".join(
            f"{key} {version['metrics'][key]:.4g}"
            if isinstance(version["metrics"][key], float)
            else f"{key} {version['metrics'][key]}"
            for key in shown
            if key in version["metrics"]
        )
        table.add_row(
            str(version["id"]),
            version["name"],
            version["kind"],
            version["base_model"],
            metrics,
            "yes" if version["promoted"] else "",
            version["created_at"][:19].replace("T", " "),
        )
    console.print(table)


if __name__ == "__main__":
    app()
