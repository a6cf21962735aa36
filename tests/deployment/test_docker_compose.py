"""docker-compose.yml and docker-compose.gpu.yml must validate and describe the stack (`docker-compose config`;
scripts/compose_smoke.sh runs them for real where a Docker engine is available)."""

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.paths import REPO_ROOT

GPU_FILE = "docker-compose.gpu.yml"


@pytest.fixture
def compose_dir(tmp_path: Path) -> Path:
    for name in ("docker-compose.yml", GPU_FILE):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    shutil.copy(REPO_ROOT / ".env.example", tmp_path / ".env")
    return tmp_path


def _config(compose_dir: Path, *files: str) -> dict[str, Any]:
    """The merged configuration that docker-compose would run (variables from the folder's .env)."""
    executable = shutil.which("docker-compose")
    if executable is None:
        pytest.fail("docker-compose is not installed (scripts/test.sh installs Debian's package)")
    command = [executable, *(arg for name in files for arg in ("-f", name)), "config"]
    result = subprocess.run(command, cwd=compose_dir, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def test_compose_file_runs_every_process_with_healthchecks_and_volumes(compose_dir: Path) -> None:
    compose = _config(compose_dir, "docker-compose.yml")
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "collector", "worker", "inference"}
    for name in ("postgres", "redis", "collector", "worker", "inference"):
        assert "healthcheck" in services[name], name
    assert services["collector"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert {"pgdata", "artifacts", "hf-cache"} <= set(compose["volumes"])
    for name in ("worker", "inference"):
        mounts = {tuple(volume.split(":")[:2]) for volume in services[name]["volumes"]}  # "src:dst:rw"
        assert {("artifacts", "/artifacts"), ("hf-cache", "/hf-cache")} <= mounts, name
        assert services[name]["environment"]["HF_HOME"] == "/hf-cache"


def test_the_base_file_asks_for_no_gpu_and_the_gpu_file_gives_one_to_worker_and_inference(
    compose_dir: Path,
) -> None:
    cpu = _config(compose_dir, "docker-compose.yml")["services"]
    gpu = _config(compose_dir, "docker-compose.yml", GPU_FILE)["services"]

    assert not any("deploy" in service for service in cpu.values())
    for name in ("worker", "inference"):
        devices = gpu[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}], name


def test_ports_in_env_move_the_host_ports_only(compose_dir: Path) -> None:
    with (compose_dir / ".env").open("a") as env:
        env.write("RLHF_COLLECTOR_PORT=8010\nRLHF_INFERENCE_PORT=8011\n")

    services = _config(compose_dir, "docker-compose.yml")["services"]

    for name, host, container in (("collector", 8010, 8000), ("inference", 8011, 8001)):
        assert [(p["published"], p["target"]) for p in services[name]["ports"]] == [(host, container)]
        assert f"127.0.0.1:{container}/health" in " ".join(services[name]["healthcheck"]["test"])
    for name in ("collector", "worker", "inference", "migrate"):
        environment = services[name]["environment"]
        assert (environment["RLHF_COLLECTOR_PORT"], environment["RLHF_INFERENCE_PORT"]) == ("8000", "8001")


def test_the_worker_is_healthy_while_busy_and_is_given_time_to_hand_its_job_back(compose_dir: Path) -> None:
    worker = _config(compose_dir, "docker-compose.yml")["services"]["worker"]

    health_file = worker["environment"]["RLHF_WORKER_HEALTH_FILE"]
    check = " ".join(worker["healthcheck"]["test"])
    assert "RLHF_WORKER_HEALTH_FILE" in check and "inspect ping" not in check
    assert not health_file.startswith(("/state", "/artifacts"))  # per container, not on a shared volume
    grace = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", worker["stop_grace_period"])
    assert grace is not None
    assert int(grace[1] or 0) * 60 + int(grace[2] or 0) >= 60


def test_the_build_context_holds_only_what_the_image_copies() -> None:
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    allowed = {p[1:] for p in patterns if p.startswith("!")}
    copied = {
        source
        for line in (REPO_ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    }

    assert patterns[0] == "*"  # an allow-list: .env, .git, .venv and the state dir never reach the daemon
    assert copied == allowed
    assert not {".env", ".git", ".venv", ".rlhf"} & allowed
    # Every package `pip install .` installs is in the image (the console's admin_ui once was not: the
    # collector then failed at start-up under compose).
    packages = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert {pattern.rstrip("*") for pattern in packages["find"]["include"]} <= copied


def test_compose_turns_inference_auth_on() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["inference"]["environment"]["RLHF_INFERENCE_AUTH"] == "on"
