"""A second `rlhf up` on ports another stack holds: refused before anything starts, naming the port and the
setting to change, never "RLHF platform is up"."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from services.core.net import free_port
from tests.stack.up_process import start_up


@pytest.mark.parametrize("busy", ["RLHF_COLLECTOR_PORT", "RLHF_INFERENCE_PORT"])
def test_up_on_a_busy_port_says_which_and_starts_nothing(
    busy: str, collector_url: str, tmp_path: Path
) -> None:
    taken = urlsplit(collector_url).port
    assert taken is not None
    ports = {
        "RLHF_COLLECTOR_PORT": str(free_port()),
        "RLHF_INFERENCE_PORT": str(free_port()),
        busy: str(taken),
    }
    state_dir, log = tmp_path / "state", tmp_path / "up.log"

    process = start_up(state_dir, int(ports["RLHF_COLLECTOR_PORT"]), log, args=["--no-worker"], env=ports)

    assert process.wait(60) == 1
    output = log.read_text()
    assert f"port {taken}" in output and busy in output, output
    assert "is up" not in output
    # Refused before the embedded servers were started.
    assert not (state_dir / "postgres").exists()
