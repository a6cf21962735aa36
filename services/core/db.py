"""Engine and sessions. Postgres only (psycopg 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, cast

import psycopg
from psycopg.rows import dict_row
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from services.core.settings import get_settings


class DatabaseNotConfiguredError(RuntimeError):
    pass


@lru_cache
def get_engine() -> Engine:
    url = get_settings().database_url
    if url is None:
        raise DatabaseNotConfiguredError(
            "RLHF_DATABASE_URL is not set: run `rlhf up` (embedded Postgres) or point it at a server"
        )
    # Enough pooled connections for every thread of anyio's default pool (40), so concurrent requests never
    # open new PostgreSQL connections (measured: hundreds per 3,000 votes with a pool of 20).
    return create_engine(url, pool_size=40, max_overflow=10, pool_pre_ping=True)


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session for code outside a request (workers, CLI); the caller commits."""
    session = get_sessionmaker()()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def execute_on_driver(session: Session, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one statement on the session's own connection and transaction, without SQLAlchemy's overhead
    (for the annotator's hot path: about half the CPU of the same query through the ORM)."""
    driver = cast(psycopg.Connection, session.connection().connection.driver_connection)
    with driver.cursor(row_factory=dict_row) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def reset_engine() -> None:
    """Forget the cached engine (tests and `rlhf up` change RLHF_DATABASE_URL at run time)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()
