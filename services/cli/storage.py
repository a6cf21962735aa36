"""Storage commands: `rlhf backup FOLDER` and `rlhf restore FOLDER` (services/core/backup.py). They reach the
database itself, as `rlhf migrate` does: RLHF_DATABASE_URL, else the embedded server in the state dir."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.markup import escape

from services.cli.render import console, fail
from services.core.settings import get_settings


@contextmanager
def _database() -> Iterator[str]:
    """The platform's database URL; the embedded server is started for the command (or shared with a running
    `rlhf up`, which keeps it running) and stopped after."""
    from services.core import embedded
    from services.core.databases import ensure_database
    from services.stack import EMBEDDED_DATABASE

    settings = get_settings()
    if settings.database_url is not None:
        yield settings.database_url
        return
    postgres = embedded.start_postgres(settings.state_dir.resolve())
    try:
        yield ensure_database(postgres.url, EMBEDDED_DATABASE)
    finally:
        postgres.stop()


def backup(
    folder: Path = typer.Argument(..., help="A new folder for the backup (it must not exist)."),
) -> None:
    """Back up the database (pg_dump) and the model versions' files into a new folder."""
    from services.core.backup import BackupError
    from services.core.backup import backup as run_backup

    try:
        with _database() as url:
            done = run_backup(folder, url=url)
    except BackupError as error:
        fail(str(error))
    console.print(
        f"backed up to {escape(str(done.folder))}: database {done.database_bytes / 1e6:.1f} MB (migration "
        f"{done.revision}), {done.versions} model version(s) in {done.artifact_bytes / 1e6:.1f} MB of artifacts"
    )
    for path in done.missing:
        console.print(f"[yellow]warning:[/yellow] the files of version {escape(path)} were missing")


def restore(
    folder: Path = typer.Argument(..., help="A folder `rlhf backup` wrote."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Replace the database and the model versions' files with a backup's (stop the platform first)."""
    from services.core.backup import BackupError
    from services.core.backup import restore as run_restore

    artifact_dir = get_settings().resolved_artifact_dir
    console.print(
        f"[yellow]warning:[/yellow] this replaces everything in the database and in {escape(str(artifact_dir))} "
        f"with the backup in {escape(str(folder))}."
    )
    if not yes and not typer.confirm("Restore it?"):
        raise typer.Exit(1)
    try:
        with _database() as url:
            done = run_restore(folder, url=url)
    except BackupError as error:
        fail(str(error))
    console.print(
        f"restored {done.versions} model version(s) and the database (from migration {done.revision})"
    )
    if done.set_aside is not None:
        console.print(
            f"the artifact store's previous files are in {escape(str(done.set_aside))}: delete that folder "
            "once the restore looks right"
        )
