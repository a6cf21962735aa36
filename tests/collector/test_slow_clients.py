"""Slow clients against a real `rlhf serve collector` process over bare sockets: connections that never finish
their headers (or send them a byte at a time), a POST trickling its body, an idle keep-alive connection; each
is closed or refused within its timeout while the collector keeps answering others."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.core.net import free_port
from services.stack import cli_command
from tests.helpers.raw_http import closed_by_peer, connect, read_response, send_head
from tests.helpers.servers import ServerProcess

TIMEOUTS = {
    "RLHF_HEADER_TIMEOUT_SECONDS": "1",
    "RLHF_KEEP_ALIVE_SECONDS": "1",
    "RLHF_BODY_TIMEOUT_SECONDS": "2",
}


@pytest.fixture(scope="module")
def served_collector(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The collector as `rlhf serve collector` runs it (uvicorn with the platform's protocol and timeouts)."""
    port = free_port()
    env = {**stack_env, **TIMEOUTS, "RLHF_HOST": "127.0.0.1", "RLHF_COLLECTOR_PORT": str(port)}
    server = ServerProcess(
        cli_command("serve", "collector"),
        env=env,
        log_path=Path(tmp_path_factory.mktemp("slow")) / "collector.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_http_ok(url + "/health")
        yield url
    finally:
        server.stop()


def test_connections_that_never_finish_their_headers_are_closed(served_collector: str) -> None:
    silent = [connect(served_collector) for _ in range(25)]
    partial = [connect(served_collector) for _ in range(25)]
    for sock in partial:
        sock.sendall(b"POST /api/v1/datasets HTTP/1.1\r\nHost: test\r\nContent-")
    try:
        started = time.monotonic()
        assert httpx.get(served_collector + "/health").status_code == 200  # others are still answered
        assert all(closed_by_peer(sock, within=5) for sock in silent + partial)
        assert time.monotonic() - started < 6
    finally:
        for sock in silent + partial:
            sock.close()


def test_headers_sent_a_byte_at_a_time_are_cut_off(served_collector: str) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"a" * 1000
    started = time.monotonic()
    with connect(served_collector) as sock:
        try:
            for byte in request:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)  # each byte resets uvicorn's keep-alive timer, not the header timeout
                if time.monotonic() - started > 10:
                    break
            assert closed_by_peer(sock, within=1)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we were sending: what the test wants
    assert time.monotonic() - started < 5


def test_a_trickling_body_is_refused_with_408(served_collector: str, admin_token: str) -> None:
    headers = {
        "Content-Type": "application/json",
        "Content-Length": "1000",
        "Authorization": f"Bearer {admin_token}",
    }
    started = time.monotonic()
    with connect(served_collector) as sock:
        send_head(sock, "POST", "/api/v1/datasets", headers)
        sock.sendall(b"{")
        time.sleep(1)
        sock.sendall(b'"')
        response = read_response(sock)
    assert response.status == 408 and response.json() == {
        "detail": "the request body did not arrive within 2 s"
    }
    assert time.monotonic() - started < 4


def test_an_idle_keep_alive_connection_is_closed(served_collector: str) -> None:
    with connect(served_collector) as sock:
        send_head(sock, "GET", "/health", {})
        assert read_response(sock).status == 200
        assert closed_by_peer(sock, within=4)


def test_a_keep_alive_connection_serves_several_requests(served_collector: str) -> None:
    # The header timeout counts from each answer, not from the connection's start.
    with connect(served_collector) as sock:
        for _ in range(3):
            send_head(sock, "GET", "/health", {})
            assert read_response(sock).status == 200
            time.sleep(0.7)
