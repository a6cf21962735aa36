"""A client command the collector refuses says which URL it called and where that URL and the token came from:
`cp .env.example .env` leaves a placeholder token, and the message must say so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from tests.helpers.paths import REPO_ROOT


def test_a_placeholder_token_from_env_file_is_named_with_the_url_source(
    collector_url: str, tmp_path: Path
) -> None:
    shutil.copy(REPO_ROOT / ".env.example", tmp_path / ".env")
    with (tmp_path / ".env").open("a") as dotenv:
        dotenv.write(f"RLHF_COLLECTOR_PORT={urlsplit(collector_url).port}\n")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("RLHF_ADMIN_TOKEN", "RLHF_COLLECTOR_URL")
    }

    refused = subprocess.run(
        [sys.executable, "-m", "services.cli", "jobs"],
        env={**env, "COLUMNS": "300"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert refused.returncode == 1
    assert "error 401" in refused.stdout
    assert f"GET {collector_url}/api/v1/jobs" in refused.stdout
    assert "URL from RLHF_HOST and RLHF_COLLECTOR_PORT in .env" in refused.stdout
    assert "token from RLHF_ADMIN_TOKEN in .env, still a placeholder" in refused.stdout
