"""Settings every process sharing the database must agree on (``gateway_settings``).

Each is stored by the first process that starts and read back by the others, which compare
it with their own: a value is never overwritten, so two processes starting together keep
whichever wrote first and the other one learns it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from textgate.storage.db import Database
from textgate.storage.tables import gateway_settings

__all__ = ["GatewaySettings"]


class GatewaySettings:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def has_table(self) -> bool:
        """False on a database not yet migrated this far (``textgate migrate`` will)."""

        def check(sync_conn: object) -> bool:
            from sqlalchemy import inspect

            return bool(inspect(sync_conn).has_table(gateway_settings.name))

        async with self._db.read() as conn:
            return await conn.run_sync(check)

    async def claim(self, name: str, value: str) -> str:
        """Store ``value`` under ``name`` unless a value is stored; return the stored one."""
        insert = sqlite_insert if self._db.is_sqlite else pg_insert
        statement = (
            insert(gateway_settings)
            .values(name=name, value=value)
            .on_conflict_do_nothing(index_elements=[gateway_settings.c.name])
        )
        async with self._db.write() as conn:
            await conn.execute(statement)
            row = (
                await conn.execute(
                    select(gateway_settings.c.value).where(gateway_settings.c.name == name)
                )
            ).first()
        return value if row is None else str(row[0])
