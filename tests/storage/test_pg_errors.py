"""PostgreSQL's own failures, provoked for real, reach callers as StorageUnavailable
through both database paths (SQLAlchemy and the raw transaction runner)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text

from tests.support import PG_ENV, postgres_url
from textgate.errors import StorageUnavailable
from textgate.storage.db import Database
from textgate.storage.txn import Query, Txn

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(postgres_url() is None, reason=f"PostgreSQL's errors: set {PG_ENV}"),
]


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


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
