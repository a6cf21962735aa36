"""Databases on a PostgreSQL server: the product's own (`rlhf up` creates it on the embedded server, which
starts with only `postgres`) and scratch ones that tests and benchmarks create, migrate and drop."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from services.core.migrate import upgrade_to_head


def driver_url(url: str) -> str:
    """The URL as psycopg takes it (SQLAlchemy's `postgresql+psycopg://` prefix removed)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def database_url(server_url: str, name: str) -> str:
    """The server's URL with another database name; a query (the embedded server's socket dir) is kept."""
    base, _, query = driver_url(server_url).partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


def ensure_database(server_url: str, name: str) -> str:
    """Create the database unless it exists; return its URL."""
    with psycopg.connect(driver_url(server_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(driver_url(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_database(server_url: str, *, prefix: str = "rlhf_scratch", keep: bool = False) -> Iterator[str]:
    """A fresh database of its own on the server, migrated to head; dropped at the end unless `keep`.

    Several test sessions and benchmarks can share one server this way."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    url = ensure_database(server_url, name)
    try:
        upgrade_to_head(url)
        yield url
    finally:
        if not keep:
            drop_database(server_url, name)
