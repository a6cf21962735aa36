"""The `rlhf` command as a user runs it, for the CLI's tests."""

from __future__ import annotations

import os
import subprocess
import sys


def rlhf(collector_url: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, pointed at the session's collector (the admin token is in the environment)."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**os.environ, "RLHF_COLLECTOR_URL": collector_url, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        input=input,
        timeout=60,
    )
