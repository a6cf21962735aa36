"""`rlhf backup` and `rlhf restore` round trips on a database of their own: the rows and the model versions'
files come back, what was added after the backup is gone (files set aside), and a restore while another client
is connected changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from services.core.databases import driver_url, scratch_database


@pytest.fixture
def platform(postgres_admin_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a platform of its own: a migrated database and an artifact store."""
    with scratch_database(postgres_admin_url, prefix="rlhf_backup") as url:
        yield {
            **os.environ,
            "RLHF_DATABASE_URL": url,
            "RLHF_STATE_DIR": str(tmp_path / "state"),
            "RLHF_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        }


def rlhf(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _sql(env: dict[str, str], query: str) -> list[tuple]:
    with psycopg.connect(driver_url(env["RLHF_DATABASE_URL"])) as connection:
        cursor = connection.execute(query)
        return cursor.fetchall() if cursor.description else []


def _add_version(env: dict[str, str], name: str, weights: bytes) -> None:
    folder = Path(env["RLHF_ARTIFACT_DIR"]) / name
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(weights)
    _sql(
        env,
        f"INSERT INTO model_version (name, kind, base_model, path) VALUES ('{name}', 'reward', 'b', '{name}')",
    )


def test_backup_then_restore_brings_back_rows_and_files(platform: dict[str, str], tmp_path: Path) -> None:
    _sql(platform, "INSERT INTO dataset (name, guidelines) VALUES ('kept', 'Prefer the kinder answer.')")
    weights = os.urandom(4096)
    _add_version(platform, "reward-1", weights)
    folder = tmp_path / "backup"

    made = rlhf(platform, "backup", str(folder))

    assert made.returncode == 0, made.stdout + made.stderr
    assert "1 model version(s)" in made.stdout and (folder / "database.dump").stat().st_size > 0
    again = rlhf(platform, "backup", str(folder))
    assert again.returncode == 1 and "exists already" in again.stdout
    # After the backup: the dataset deleted, the version's files gone, a new version added.
    _sql(platform, "DELETE FROM dataset")
    _sql(platform, "DELETE FROM model_version")
    (Path(platform["RLHF_ARTIFACT_DIR"]) / "reward-1" / "model.safetensors").unlink()
    _add_version(platform, "reward-2", b"later")

    restored = rlhf(platform, "restore", str(folder), "--yes")

    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert _sql(platform, "SELECT name, guidelines FROM dataset") == [("kept", "Prefer the kinder answer.")]
    assert _sql(platform, "SELECT name, path FROM model_version") == [("reward-1", "reward-1")]
    artifacts = Path(platform["RLHF_ARTIFACT_DIR"])
    assert (artifacts / "reward-1" / "model.safetensors").read_bytes() == weights
    assert not (artifacts / "reward-2").exists()
    set_aside = [entry for entry in artifacts.iterdir() if entry.name.startswith(".before-restore-")]
    assert len(set_aside) == 1 and (set_aside[0] / "reward-2" / "model.safetensors").read_bytes() == b"later"
    # The ids go on after the restored rows.
    _add_version(platform, "reward-3", b"next")
    assert _sql(platform, "SELECT id FROM model_version ORDER BY id") == [(1,), (2,)]


def test_restore_while_another_client_is_connected_changes_nothing(
    platform: dict[str, str], tmp_path: Path
) -> None:
    _sql(platform, "INSERT INTO dataset (name) VALUES ('before')")
    folder = tmp_path / "backup"
    assert rlhf(platform, "backup", str(folder)).returncode == 0
    _sql(platform, "INSERT INTO dataset (name) VALUES ('after')")

    with psycopg.connect(driver_url(platform["RLHF_DATABASE_URL"]), application_name="rlhf-collector"):
        refused = rlhf(platform, "restore", str(folder), "--yes")

    assert (
        refused.returncode == 1
        and "rlhf-collector" in refused.stdout
        and "stop the platform" in refused.stdout
    )
    assert _sql(platform, "SELECT name FROM dataset ORDER BY id") == [("before",), ("after",)]
    not_a_backup = rlhf(platform, "restore", str(tmp_path), "--yes")
    assert not_a_backup.returncode == 1 and "not a backup folder" in not_a_backup.stdout


def test_restore_of_a_truncated_dump_fails_and_changes_nothing(
    platform: dict[str, str], tmp_path: Path
) -> None:
    """pg_restore stops partway through a cut-off dump: what psql had already run is rolled back."""
    _sql(platform, "INSERT INTO dataset (name) SELECT 'before-' || n FROM generate_series(1, 2000) AS n")
    folder = tmp_path / "backup"
    assert rlhf(platform, "backup", str(folder)).returncode == 0
    dump = folder / "database.dump"
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size * 2 // 3])
    _sql(platform, "INSERT INTO dataset (name) VALUES ('after')")

    failed = rlhf(platform, "restore", str(folder), "--yes")

    assert failed.returncode == 1 and "pg_restore failed" in failed.stdout, failed.stdout + failed.stderr
    assert _sql(platform, "SELECT count(*) FROM dataset") == [(2001,)]
    assert _sql(platform, "SELECT name FROM dataset WHERE name = 'after'") == [("after",)]
