"""Engine and sessions. Postgres only (psycopg 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from services.core.settings import get_settings


class DatabaseNotConfiguredError(RuntimeError):
    pass


def _database_url() -> str:
    url = get_settings().database_url
    if url is None:
        raise DatabaseNotConfiguredError(
            "RLHF_DATABASE_URL is not set: run `rlhf up` (embedded Postgres) or point it at a server"
        )
    return url


@lru_cache
def get_engine() -> Engine:
    url = _database_url()
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


# The collector's annotation pool, as its connections are named in pg_stat_activity.
ANNOTATION_POOL_NAME = "rlhf-collector-annotation"


def async_pool(
    *, min_size: int = 16, max_size: int = 32, application_name: str = ANNOTATION_POOL_NAME
) -> AsyncConnectionPool:
    """Async psycopg connections for the annotator's hot path, which runs on the event loop: a worker thread
    per request cost about a third of the collector's CPU in context switches. The caller opens and closes it
    (the collector's lifespan). Its connections are not SQLAlchemy's: statements go straight to the driver."""
    conninfo = make_url(_database_url()).set(drivername="postgresql").render_as_string(hide_password=False)
    # Up to one connection per concurrent request of a busy annotation crowd. Opened ahead: growing from 4 under
    # load (one connection at a time) gave 750 ms p99 votes with two workers. No check per checkout (psycopg's
    # check backs off for seconds per dead connection): the collector's error handler sweeps the pool instead.
    return AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        open=False,
        kwargs={"application_name": application_name},  # tells them apart in pg_stat_activity
    )


@asynccontextmanager
async def lookup_connection(pool: AsyncConnectionPool) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A pooled connection in autocommit, for lookups of one read-only statement (tokens, API keys, a named
    reward) that run before every request: no transaction to open and no COMMIT round trip to close it.
    getconn and putconn, not pool.connection(): that also enters the connection's own context, whose commit
    has nothing to do after a lookup and was a third of the lookup's pool overhead (~15 µs of ~46 µs,
    measured)."""
    connection = await pool.getconn()
    try:
        await connection.set_autocommit(True)
        try:
            yield connection
        finally:
            try:
                await connection.set_autocommit(False)
            except psycopg.Error:
                # Lost, or stopped mid-statement: closed, the pool discards it rather than hand it out in
                # autocommit, and the lookup's own error is the one raised.
                await connection.close()
    finally:
        await pool.putconn(connection)


async def fetch_all(
    connection: psycopg.AsyncConnection[Any], sql: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Run one statement in the connection's transaction; its rows as dicts (none for a statement without)."""
    async with connection.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(sql, params)
        return await cursor.fetchall() if cursor.description else []


def reset_engine() -> None:
    """Forget the cached engine (tests and `rlhf up` change RLHF_DATABASE_URL at run time)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()
