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


# Lookups by a value most rows lack: the index holds only the rows that have it, so an
# order without a client reference or a message no link took yet writes no entry.
PARTIAL_INDEXES = {
    "ix_orders_account_id_client_ref": "client_ref",
    "ix_messages_account_id_client_ref": "client_ref",
    "ix_messages_connector_external_key": "external_key",
    "ix_messages_report_check": "report_check_at",
}


async def test_lookup_indexes_skip_rows_without_the_value(db_url: str) -> None:
    db = Database(db_url)
    try:
        await upgrade(db)
        async with db.write() as conn:
            if db_url.startswith("sqlite"):
                rows = await conn.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                )
            else:
                rows = await conn.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes")
            definitions = {name: sql for name, sql in rows if name in PARTIAL_INDEXES}
    finally:
        await db.dispose()
    assert set(definitions) == set(PARTIAL_INDEXES)
    for name, column in PARTIAL_INDEXES.items():
        _, _, where = definitions[name].partition(" WHERE ")
        where = where.replace("(", "").replace(")", "")
        assert where == f"{column} IS NOT NULL", (name, definitions[name])
