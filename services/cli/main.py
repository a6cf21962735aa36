"""The `rlhf` command: every command, registered in one place, and its entry point."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from services.cli import (
    annotators,
    api_keys,
    data,
    datasets,
    jobs,
    quality,
    rewards,
    servers,
    storage,
    training,
)
from services.cli.render import console
from services.core.settings import Settings

app = typer.Typer(help="Open RLHF platform: collect preferences, train, serve.", no_args_is_help=True)

app.command()(servers.up)
app.command()(servers.demo)
app.command()(servers.migrate)
app.command()(servers.serve)
app.command()(servers.worker)
app.command()(storage.backup)
app.command()(storage.restore)
app.command("import")(data.import_)
app.command()(data.export)
app.command()(quality.gold)
app.add_typer(training.train_app, name="train")
app.add_typer(jobs.jobs_app, name="jobs")
app.add_typer(datasets.datasets_app, name="datasets")
app.command()(datasets.stats)
app.add_typer(training.models_app, name="models")
app.add_typer(rewards.rewards_app, name="rewards")
app.add_typer(annotators.annotators_app, name="annotators")
app.add_typer(api_keys.api_keys_app, name="api-keys")

CONFIG_ERROR_EXIT = 2


def run() -> None:
    """The console script: `app`, with a configuration error (RLHF_* variables, .env) said in one line per
    problem and exit code 2 instead of a traceback around it."""
    try:
        app()
    except ValidationError as error:
        if error.title != Settings.__name__:
            raise
        for line in config_errors(error):
            console.print(f"[red]configuration error:[/red] {line}", soft_wrap=True, highlight=False)
        raise SystemExit(CONFIG_ERROR_EXIT) from None


def config_errors(error: ValidationError) -> list[str]:
    """Each problem as the operator sets it: the variable's name, pydantic's message, the value given."""
    lines = []
    for problem in error.errors(include_url=False):
        message = problem["msg"].removeprefix("Value error, ")
        if problem["loc"]:
            variable = "RLHF_" + "_".join(str(part) for part in problem["loc"]).upper()
            lines.append(f"{variable}: {message} (got {problem['input']!r})")
        else:
            lines.append(message)
    return lines
