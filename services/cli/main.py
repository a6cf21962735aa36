"""The `rlhf` command: every command, registered in one place."""

from __future__ import annotations

import typer

from services.cli import annotators, api_keys, data, datasets, jobs, quality, servers, storage, training

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
app.add_typer(annotators.annotators_app, name="annotators")
app.add_typer(api_keys.api_keys_app, name="api-keys")
