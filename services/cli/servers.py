"""Server commands: they run processes (the whole stack, one HTTP service, a worker, the migrations, the demo)."""

from __future__ import annotations

import os
from enum import StrEnum

import typer

from services.cli.render import console
from services.core.settings import get_settings


class Service(StrEnum):
    COLLECTOR = "collector"
    INFERENCE = "inference"


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


def demo(
    policy: str = typer.Option(
        "builtin:tiny-gpt2",
        "--policy",
        help="The policy the loop trains: builtin:tiny-gpt2 (minutes) or builtin:smollm2-135m-instruct "
        "(LoRA; a job still running 30 minutes after the start is cancelled and the demo stops).",
    ),
) -> None:
    """The whole loop, headless, on its own stack (embedded unless URLs are set): SFT, reward model, PPO,
    new-vs-old comparisons judged through the annotation API, win rate; prints a report."""
    from services.cli import demo_loop
    from services.stack import running_stack

    try:
        profile = demo_loop.profile_for(policy)
    except demo_loop.DemoFailed as error:
        raise typer.BadParameter(str(error), param_hint="--policy") from None
    # The inference service serves the policy the demo trains from before a promotion (with the tiny GPT-2:
    # no SmolLM2 conversion first, minutes on a new machine), unless RLHF_POLICY_MODEL says otherwise.
    os.environ.setdefault("RLHF_POLICY_MODEL", profile.policy)
    get_settings.cache_clear()
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
                profile=profile,
            )
    except RuntimeError as error:
        console.print(f"[red]{error}[/red] (see {log_dir})")
        code = 1
    raise typer.Exit(code)


def migrate() -> None:
    """Apply database migrations (embedded PostgreSQL in the state dir when RLHF_DATABASE_URL is unset)."""
    from services.core import embedded
    from services.core.databases import ensure_database
    from services.core.migrate import upgrade_to_head
    from services.stack import EMBEDDED_DATABASE

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


def serve(service: Service) -> None:
    """Run one HTTP service (the collector or the inference service) in the foreground."""
    import uvicorn

    from services.core.http_server import uvicorn_options

    settings = get_settings()
    if service is Service.COLLECTOR:
        uvicorn.run(
            "services.collector.app:app",
            host=settings.host,
            port=settings.collector_port,
            workers=settings.collector_workers,
            **uvicorn_options(),
        )
    else:
        uvicorn.run(
            "services.inference.app:app",
            host=settings.host,
            port=settings.inference_port,
            **uvicorn_options(),
        )


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

    get_settings()  # a configuration error is said here in one line (services/cli/main.py), not by Celery

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
