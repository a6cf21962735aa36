"""A configuration error (a bad RLHF_* variable, production without a real secret) is one line per problem
naming the variable, and exit code 2, from client and server commands alike: no traceback around it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def rlhf(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**env, "COLUMNS": "80"},  # a narrow terminal must not wrap the line either
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", [["jobs"], ["up"], ["serve", "collector"], ["worker"]])
def test_production_without_an_admin_token_is_one_line_and_exit_2(tmp_path: Path, command: list[str]) -> None:
    env = {key: value for key, value in os.environ.items() if key != "RLHF_ADMIN_TOKEN"}

    result = rlhf({**env, "RLHF_ENVIRONMENT": "production"}, tmp_path, *command)

    assert result.returncode == 2
    output = (result.stdout + result.stderr).strip()
    assert output.splitlines() == [
        "configuration error: RLHF_ADMIN_TOKEN must be set to a real secret (at least 16 characters, not a "
        "pattern) when RLHF_ENVIRONMENT=production"
    ]


def test_a_bad_value_names_the_variable_and_the_value(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RLHF_COLLECTOR_PORT=eighty\n")

    result = rlhf(dict(os.environ), tmp_path, "datasets")

    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stdout.strip() == (
        "configuration error: RLHF_COLLECTOR_PORT: Input should be a valid integer, unable to parse string as "
        "an integer (got 'eighty')"
    )
