"""docker-compose.yml cannot be run here (no Docker engine), but it must validate and describe the stack."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers.paths import REPO_ROOT


@pytest.fixture
def compose_dir(tmp_path: Path) -> Path:
    shutil.copy(REPO_ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(REPO_ROOT / ".env.example", tmp_path / ".env")
    return tmp_path


def test_compose_file_passes_docker_compose_validation(compose_dir: Path) -> None:
    executable = shutil.which("docker-compose")
    if executable is None:
        pytest.fail("docker-compose is not installed (scripts/test.sh installs Debian's package)")
    result = subprocess.run(
        [executable, "config", "-q"], cwd=compose_dir, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_compose_file_runs_every_process_with_healthchecks_and_volumes() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "collector", "worker", "inference"}
    for name in ("postgres", "redis", "collector", "worker", "inference"):
        assert "healthcheck" in services[name], name
    assert services["collector"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    gpu = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    assert {"pgdata", "artifacts"} <= set(compose["volumes"])
    artifact_mounts = {
        "artifacts:/artifacts" in services[name]["volumes"] for name in ("worker", "inference")
    }
    assert artifact_mounts == {True}
