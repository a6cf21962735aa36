"""Ports and health checks for the processes the platform starts (`rlhf up`, accelerate launch) and that the
tests and benchmarks start the same way."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tcp_open(host: str, port: int) -> bool:
    """Whether something accepts connections there (a local PostgreSQL or Redis, say)."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def port_in_use(host: str, port: int) -> bool:
    """Whether a server could not listen on (host, port) now, because something else holds it."""
    with socket.socket() as sock:
        # As uvicorn does: a port left in TIME_WAIT by a stopped server is free to listen on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def answers(url: str, *, timeout: float = 1.0, instance: str | None = None) -> bool:
    """Whether GET `url` answers 200 now (a health check); with `instance`, only when the answer names it
    (/health's "instance": a service this stack started, not another one on the same port)."""
    try:
        response = httpx.get(url, timeout=timeout)
        if response.status_code != 200:
            return False
        return instance is None or response.json().get("instance") == instance
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def wait_healthy(
    url: str,
    *,
    process: subprocess.Popen[bytes] | None = None,
    name: str = "the server",
    timeout: float = 120.0,
    instance: str | None = None,
) -> None:
    """Wait until GET `url` answers 200 (naming `instance`, when given); RuntimeError when `process` exits
    first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode} while starting")
        if answers(url, instance=instance):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not answer {url} within {timeout:.0f}s")
