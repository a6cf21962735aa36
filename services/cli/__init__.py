"""The `rlhf` command (typer). Server commands (servers.py: up, demo, migrate, serve, worker) run processes;
client commands (data.py: import, export; training.py: train, jobs, models) talk to the collector's HTTP API
through services/client, like any other client; render.py is what they show."""

from services.cli.main import app, run

__all__ = ["app", "run"]
