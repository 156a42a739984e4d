"""PostgreSQL's own failures, provoked for real, reach callers as StorageUnavailable
through both database paths (SQLAlchemy and the raw transaction runner)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import event, text

from tests.support import PG_ENV, postgres_url, until
from textgate.errors import StorageUnavailable
from textgate.storage.db import Database
from textgate.storage.txn import Query, Txn

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(postgres_url() is None, reason=f"PostgreSQL's errors: set {PG_ENV}"),
]


@pytest.mark.parametrize("path", ["sqlalchemy", "txn"])
async def test_a_statement_timeout_is_unavailable(db: Database, path: str) -> None:
    with pytest.raises(StorageUnavailable, match="QueryCanceledError"):
        if path == "sqlalchemy":
            async with db.read() as conn:
                await conn.execute(text("SET statement_timeout = 50"))
                await conn.execute(text("SELECT pg_sleep(5)"))
        else:

            def txn() -> Txn[None]:
                yield Query("SET LOCAL statement_timeout = 50")
                yield Query("SELECT pg_sleep(5)")

            await db.txn(txn)
    assert await db.ping()


@pytest.mark.parametrize("path", ["sqlalchemy", "txn"])
async def test_a_backend_terminated_mid_query_is_unavailable(db: Database, path: str) -> None:
    marker = f"SELECT pg_sleep(30) AS terminated_{path}"

    async def query() -> None:
        if path == "sqlalchemy":
            async with db.read() as conn:
                await conn.execute(text(marker))
        else:

            def txn() -> Txn[None]:
                yield Query(marker)

            await db.txn(txn)

    running = asyncio.create_task(query())
    admin = await asyncpg.connect(db.url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        for _ in range(600):
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE query = $1 AND pid <> pg_backend_pid()",
                marker,
            )
            if killed:
                break
            await asyncio.sleep(0.05)
        assert killed == 1
    finally:
        await admin.close()
    with pytest.raises(StorageUnavailable):
        await running
    assert await db.ping()  # the pools replace the dead connection


async def test_the_first_use_after_a_server_restart_succeeds(db: Database) -> None:
    """A restart closes every idle pooled connection; the next transaction on either
    path gets a fresh connection instead of failing on the dead one (no pre-ping)."""

    def txn() -> Txn[int]:
        rows = yield Query("SELECT 1")
        return int(rows[0][0])

    # Fill the pool with idle connections.
    async def both() -> None:
        async with db.read() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
        assert await db.txn(txn) == 1

    # Every connection the pool hands out (the hot-path runner keeps some between its
    # transactions: those are idle too, and must be dropped as well).
    pooled: set[Any] = set()
    event.listen(db.engine.sync_engine, "checkout", lambda conn, _record, _proxy: pooled.add(conn))
    await asyncio.gather(*(both() for _ in range(5)))
    assert pooled
    admin = await asyncpg.connect(db.url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        others = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert await admin.fetchval(others) >= 1
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

        async def all_gone() -> bool:
            return int(await admin.fetchval(others)) == 0

        await until(all_gone, "the terminated backends to exit")
    finally:
        await admin.close()
    # The server says so before it exits: the idle connections learn it from their sockets.
    await until(
        lambda: all(c.driver_connection.is_closed() for c in pooled),
        "the pooled connections to see the server close them",
    )
    for _ in range(3):
        await both()


async def test_transactions_in_a_row_reuse_one_connection(db: Database) -> None:
    """The hot path keeps its connections between transactions instead of checking one
    out of the pool for each (a checkout costs about half a round trip in CPU)."""

    def txn() -> Txn[int]:
        rows = yield Query("SELECT 1")
        return int(rows[0][0])

    checkouts: list[Any] = []
    event.listen(
        db.engine.sync_engine, "checkout", lambda conn, _record, _proxy: checkouts.append(conn)
    )
    for _ in range(20):
        assert await db.txn(txn) == 1
    assert len(checkouts) == 1
    # Many at once: more connections, and the pool still lends each to one at a time.
    assert await asyncio.gather(*(db.txn(txn) for _ in range(12))) == [1] * 12
    assert 1 < len(checkouts) <= 13


async def test_disposing_closes_the_connections_kept_between_transactions(db_url: str) -> None:
    """The connections the hot path keeps go back to the pool, and close with it."""

    def txn() -> Txn[str]:
        rows = yield Query("SELECT application_name FROM pg_stat_activity LIMIT 1")
        return str(rows[0][0])

    db = Database(db_url)
    await asyncio.gather(*(db.txn(txn) for _ in range(6)))
    admin = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        others = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert await admin.fetchval(others) >= 2  # the pool's and the kept ones
        await db.dispose()

        async def all_closed() -> bool:
            return int(await admin.fetchval(others)) == 0

        await until(all_closed, "every connection of the disposed database to close")
    finally:
        await admin.close()
