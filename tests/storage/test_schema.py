"""The migrations build exactly the schema ``tables.py`` declares."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from textgate.storage.db import Database
from textgate.storage.migrate import upgrade
from textgate.storage.tables import metadata


async def test_migrations_match_the_declared_schema(db_url: str) -> None:
    db = Database(db_url)
    try:
        await upgrade(db)

        def diff(sync_conn: Any) -> list[Any]:
            context = MigrationContext.configure(sync_conn)
            return list(compare_metadata(context, metadata))

        async with db.write() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await db.dispose()
    assert differences == []
