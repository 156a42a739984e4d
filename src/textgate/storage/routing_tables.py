"""The routing table set through the admin API (``routing_tables``: one row or none).

Stored as the plain form of ``core.routing_spec`` (JSON); while a row exists it replaces the
config file's rules and costs in every process sharing the database. ``updated_at`` is the
version the dispatchers compare to see a change made by another process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from textgate.storage.db import Database
from textgate.storage.tables import routing_tables

__all__ = ["RoutingTableRepo", "StoredTable"]

_ROW = 1


@dataclass(frozen=True, slots=True)
class StoredTable:
    spec: dict[str, Any]
    updated_at: int


class RoutingTableRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self) -> StoredTable | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(routing_tables.c.body, routing_tables.c.updated_at).where(
                        routing_tables.c.id == _ROW
                    )
                )
            ).first()
        if row is None:
            return None
        return StoredTable(json.loads(row.body), int(row.updated_at))

    async def version(self) -> int | None:
        """``updated_at`` of the stored table; None when there is none."""
        async with self._db.read() as conn:
            value = (
                await conn.execute(
                    select(routing_tables.c.updated_at).where(routing_tables.c.id == _ROW)
                )
            ).scalar()
        return None if value is None else int(value)

    async def put(self, spec: dict[str, Any], now: int) -> StoredTable:
        """Store ``spec``; its version is later than any before it, even within a ms."""
        body = json.dumps(spec, separators=(",", ":"), sort_keys=True)
        async with self._db.write() as conn:
            before = (
                await conn.execute(
                    select(routing_tables.c.updated_at).where(routing_tables.c.id == _ROW)
                )
            ).scalar()
            if before is None:
                at = now
                await conn.execute(insert(routing_tables).values(id=_ROW, body=body, updated_at=at))
            else:
                at = max(now, int(before) + 1)
                await conn.execute(
                    update(routing_tables)
                    .where(routing_tables.c.id == _ROW)
                    .values(body=body, updated_at=at)
                )
        return StoredTable(spec, at)

    async def delete(self) -> bool:
        """Forget the stored table; False when there was none."""
        async with self._db.write() as conn:
            result = await conn.execute(delete(routing_tables).where(routing_tables.c.id == _ROW))
        return bool(result.rowcount)
