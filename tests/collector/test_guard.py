"""What the collector refuses before a route reads the body: no token (401), a body past the route's limit
(413, the import route with its own), a body that arrives too slowly (408), too many requests at once (503).
Bare sockets show the refusal comes before the client has sent the body."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.collector import unique
from tests.helpers.raw_http import connect, read_response, send_head
from tests.helpers.servers import running_collector

SMALL_LIMITS = {
    "RLHF_MAX_BODY_BYTES": "2000",
    "RLHF_MAX_IMPORT_BYTES": "20000",
    "RLHF_BODY_TIMEOUT_SECONDS": "1.5",
    "RLHF_MAX_CONCURRENT_REQUESTS": "3",
}


@pytest.fixture(scope="module")
def small_collector(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A collector with small limits, so that tests can reach them quickly."""
    log = Path(tmp_path_factory.mktemp("guard")) / "collector.log"
    with running_collector({**stack_env, **SMALL_LIMITS}, log_path=log) as url:
        yield url


def _post_head(url: str, path: str, headers: dict[str, str]) -> socket.socket:
    sock = connect(url)
    send_head(sock, "POST", path, {"Content-Type": "application/json", **headers})
    return sock


@pytest.mark.parametrize(
    "framing", [{"Content-Length": str(200 * 1024 * 1024)}, {"Transfer-Encoding": "chunked"}]
)
def test_a_large_unauthenticated_body_is_refused_before_it_is_sent(
    collector_url: str, framing: dict[str, str]
) -> None:
    # Headers announce a 200 MB (or chunked) body, none of which is sent: the answer comes anyway.
    with _post_head(collector_url, "/api/v1/datasets", framing) as sock:
        response = read_response(sock)
    assert response.status == 401
    assert response.json() == {"detail": "missing or invalid bearer token"}
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_wrong_token_is_refused_before_the_body(collector_url: str) -> None:
    with _post_head(
        collector_url, "/api/v1/datasets", {"Content-Length": "1000000", "Authorization": "Bearer x"}
    ) as s:
        assert read_response(s).status == 401


def test_malformed_json_without_a_token_is_401_not_422(collector_url: str) -> None:
    response = httpx.post(
        collector_url + "/api/v1/datasets", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 401


def test_declared_body_over_the_limit_is_413_before_it_is_sent(
    small_collector: str, admin_token: str
) -> None:
    headers = {"Content-Length": "2001", "Authorization": f"Bearer {admin_token}"}
    with _post_head(small_collector, "/api/v1/datasets", headers) as sock:
        response = read_response(sock)
    assert response.status == 413
    assert "2000 bytes" in response.json()["detail"]


def test_chunked_body_is_cut_off_at_the_limit(small_collector: str, admin_token: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "' + b"x" * 1500
        yield b"y" * 1500 + b'"}'

    response = httpx.post(
        small_collector + "/api/v1/datasets",
        content=chunks(),  # an iterator: httpx sends it chunked, with no Content-Length
        headers={"Authorization": f"Bearer {admin_token}", "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert set(response.json()) == {"detail"}


def test_the_import_route_keeps_its_larger_limit(small_collector: str, admin_token: str) -> None:
    admin = {"Authorization": f"Bearer {admin_token}"}
    dataset = httpx.post(
        small_collector + "/api/v1/datasets", json={"name": unique("big")}, headers=admin
    ).json()
    # Distinct prompts: the import leaves out duplicate rows (services/domain/comparisons.py).
    lines = [
        b'{"prompt": "p%03d", "chosen": "' % i + b"c" * 100 + b'", "rejected": "r"}\n' for i in range(200)
    ]
    url = f"{small_collector}/api/v1/datasets/{dataset['id']}/import?format=trl"
    # ~6 KB: past the JSON limit, within the import's
    accepted = httpx.post(url, content=b"".join(lines[:50]), headers=admin)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["comparisons"] == 50
    refused = httpx.post(url, content=b"".join(lines), headers=admin)
    assert refused.status_code == 413
    assert "20000 bytes" in refused.json()["detail"]


def test_a_trickling_body_is_cut_off(small_collector: str, admin_token: str) -> None:
    headers = {"Content-Length": "100", "Authorization": f"Bearer {admin_token}"}
    started = time.monotonic()
    with _post_head(small_collector, "/api/v1/datasets", headers) as sock:
        sock.sendall(b"{")
        time.sleep(0.5)
        sock.sendall(b'"')  # a byte now and then: never the whole body
        response = read_response(sock)
    assert response.status == 408
    assert "1.5 s" in response.json()["detail"]
    assert response.headers["connection"] == "close"  # the rest of that body is not wanted
    assert time.monotonic() - started < 5


def test_too_many_requests_at_once_get_503_with_retry_after(small_collector: str, admin_token: str) -> None:
    # Three requests hold the collector's three slots while their bodies (never sent) are awaited.
    held = [
        _post_head(
            small_collector,
            "/api/v1/datasets",
            {"Content-Length": "10", "Authorization": f"Bearer {admin_token}"},
        )
        for _ in range(3)
    ]
    try:
        time.sleep(0.3)
        busy = httpx.get(
            small_collector + "/api/v1/datasets", headers={"Authorization": f"Bearer {admin_token}"}
        )
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        assert set(busy.json()) == {"detail"}
        assert httpx.get(small_collector + "/health").status_code == 200  # health checks still answered
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert httpx.get(
        small_collector + "/api/v1/datasets", headers={"Authorization": f"Bearer {admin_token}"}
    ).is_success
