"""What the two outbound queues (webhook deliveries, mail) share: leases, fenced outcomes,
replay and retention.

A queue row is pending while ``next_attempt_at`` is set: the due time, the retry time, or
the lease expiry while a sender holds it, so a sender that dies leaves rows that simply
fall due again. Claiming adds one to ``attempts``, and every outcome is written only if
``attempts`` still has the claimed value: a sender whose lease was taken over cannot
overwrite the newer attempt's result.

The statements are SQLAlchemy Core on the queue's table (``storage.tables``), run on the
connection of the caller's transaction (``Database.write``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, Table, bindparam, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from textgate.core.ids import new_id
from textgate.errors import Conflict
from textgate.storage.db import Database

__all__ = ["PENDING", "Outbox", "QueueOutcome", "insert_new", "writing"]

PENDING = "pending"
DEAD = "dead"


@dataclass(frozen=True, slots=True)
class QueueOutcome:
    id: str
    attempts: int
    """The claimed attempt (the fencing token)."""
    error: str | None
    """None: done."""
    retry_at: int | None = None
    """When to try again after an error; None with an error: dead-lettered."""


@contextlib.asynccontextmanager
async def writing(db: Database, *, urgent: bool = True) -> AsyncIterator[AsyncConnection]:
    """``db.write`` whose constraint violations are a :class:`Conflict`, as they are for the
    hot-path transactions (``Database.txn``): a row whose account, subscription or key is
    gone, or a key taken twice. SQLAlchemy wraps the driver's error, which
    ``map_storage_errors`` would let through."""
    try:
        async with db.write(urgent=urgent) as conn:
            yield conn
    except IntegrityError as exc:
        raise Conflict(f"conflicting write: {exc.orig}") from exc


def insert_new(conn: AsyncConnection, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the connection's dialect: rows whose key is
    taken already (a replayed feed, a mail's dedup key) are skipped."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table).on_conflict_do_nothing()


class Outbox:
    """Statements for one queue table, built once on its columns (a column name the table
    does not have fails here, at import)."""

    def __init__(self, table: Table, *, done_status: str, done_column: str) -> None:
        self.table = table
        c = table.c
        done_at = c[done_column]
        # Executed once per outcome (executemany); ``b_*`` are the outcome's values.
        fenced = update(table).where(
            c.id == bindparam("b_id"),
            c.attempts == bindparam("b_attempts"),
            c.status == PENDING,
        )
        self._set_done = fenced.values(
            {
                c.status: done_status,
                c.next_attempt_at: None,
                done_at: bindparam("b_now"),
                c.last_error: None,
            }
        )
        self._set_retry = fenced.values(
            next_attempt_at=bindparam("b_retry_at"), last_error=bindparam("b_error")
        )
        self._set_dead = fenced.values(
            status=DEAD, next_attempt_at=None, last_error=bindparam("b_error")
        )
        self._requeue = update(table).values({done_at: None})

    async def claim(
        self,
        conn: AsyncConnection,
        query: Select[Any],
        *,
        now: int,
        lease_ms: int,
        limit: int,
    ) -> list[Row[Any]]:
        """The due rows of ``query`` (a select of the queue table, joined as it needs),
        soonest first, leased until ``now + lease_ms``. On PostgreSQL they are locked
        ``FOR UPDATE ... SKIP LOCKED``, so that senders in other processes skip them; on
        SQLite the write turn makes the claim the only writer."""
        c = self.table.c
        rows = list(
            await conn.execute(
                query.where(c.next_attempt_at <= now)
                .order_by(c.next_attempt_at)
                .limit(limit)
                .with_for_update(of=self.table, skip_locked=True)
            )
        )
        if rows:
            await conn.execute(
                update(self.table)
                .where(c.id.in_([r.id for r in rows]))
                .values(attempts=c.attempts + 1, next_attempt_at=now + lease_ms)
            )
        return rows

    async def record(
        self, conn: AsyncConnection, outcomes: Sequence[QueueOutcome], now: int
    ) -> None:
        done = [
            {"b_id": o.id, "b_attempts": o.attempts, "b_now": now}
            for o in outcomes
            if o.error is None
        ]
        retry = [
            {
                "b_id": o.id,
                "b_attempts": o.attempts,
                "b_retry_at": o.retry_at,
                "b_error": o.error[:500],
            }
            for o in outcomes
            if o.error is not None and o.retry_at is not None
        ]
        dead = [
            {"b_id": o.id, "b_attempts": o.attempts, "b_error": o.error[:500]}
            for o in outcomes
            if o.error is not None and o.retry_at is None
        ]
        for statement, rows in (
            (self._set_done, done),
            (self._set_retry, retry),
            (self._set_dead, dead),
        ):
            if rows:
                await conn.execute(statement, rows)

    async def requeue(self, conn: AsyncConnection, row_id: str, now: int) -> None:
        """Queue a row again whatever its state, with a fresh set of attempts."""
        c = self.table.c
        await conn.execute(
            self._requeue.where(c.id == row_id).values(
                status=PENDING, attempts=0, next_attempt_at=now
            )
        )

    async def purge(self, conn: AsyncConnection, older_than_ms: int) -> None:
        """Delete finished rows (done or dead) made before the given time. Ids are ULIDs,
        so "made before" is a range of the primary key and needs no index of its own."""
        c = self.table.c
        await conn.execute(
            delete(self.table).where(c.id < new_id(older_than_ms, bytes(10)), c.status != PENDING)
        )
