"""The token lookups' connections (services/core/db.lookup_connection) go back to the pool as the routes
expect them: in a transaction's mode again, after a lookup that worked, one that failed and one whose
connection was dropped."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from services.core.db import async_pool, lookup_connection


def test_a_lookup_runs_in_autocommit_and_leaves_its_connection_transactional() -> None:
    async def run() -> None:
        async with async_pool(min_size=1, max_size=1, application_name="rlhf-test-lookup") as pool:
            async with lookup_connection(pool) as connection:
                assert connection.autocommit
                await connection.execute("SELECT 1")
                assert connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            with pytest.raises(psycopg.errors.UndefinedTable):
                async with lookup_connection(pool) as connection:
                    await connection.execute("SELECT * FROM no_such_table")
            # The pool's one connection, as a route gets it: statements open a transaction the route commits.
            async with pool.connection() as connection:
                assert not connection.autocommit
                await connection.execute("SELECT 1")
                assert connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS

    asyncio.run(run())


def test_a_lookup_on_a_dropped_connection_fails_and_the_pool_replaces_it() -> None:
    async def run() -> None:
        async with async_pool(min_size=1, max_size=1, application_name="rlhf-test-lookup") as pool:
            async with pool.connection() as connection:
                backend = connection.info.backend_pid
            # What a PostgreSQL restart does to it, while it sits in the pool.
            assert isinstance(pool.conninfo, str)
            async with await psycopg.AsyncConnection.connect(pool.conninfo, autocommit=True) as other:
                await other.execute("SELECT pg_terminate_backend(%s)", (backend,))
            with pytest.raises(psycopg.OperationalError) as raised:
                async with lookup_connection(pool) as connection:
                    await connection.execute("SELECT 1")
            # The lookup's own error, not one from putting the dead connection back in a transaction's mode.
            assert "the connection is lost" not in str(raised.value)
            async with lookup_connection(pool) as connection:
                assert connection.info.backend_pid != backend
                assert await (await connection.execute("SELECT 1")).fetchone() == (1,)

    asyncio.run(run())
