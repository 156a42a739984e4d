"""A connector's rate budget shared by every process on the database (``link_rates``).

Time is cut into slots of ``slot_ms`` on the *database's* clock, so processes on hosts whose
clocks disagree still count against the same slot. A process reserves a few submit_sm of
the current slot at a time with one atomic upsert; it gets at most what is left, and nothing
once the slot is spent (then it waits for the next one). A slot never holds more than
``per_slot``, so any one second sees at most ``1000 / slot_ms + 1`` slots' worth: the rate
plus one slot (the burst). Old slots are pruned now and then.
"""

from __future__ import annotations

import time
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Double,
    Integer,
    String,
    cast,
    delete,
    extract,
    func,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import ReturningInsert

from textgate.storage.db import Database
from textgate.storage.tables import link_rates

__all__ = ["LinkRates"]

_PRUNE_EVERY: Final = 60.0
"""Seconds between deletions of spent slots (by each process)."""
_KEEP_SLOTS: Final = 10
"""Spent slots kept behind the current one (a look back for operators)."""


def _now_ms(sqlite: bool) -> ColumnElement[Any]:
    """Milliseconds since the epoch, fixed for the whole statement on both databases
    (statement_timestamp() in PostgreSQL; 'now' is stable within one step in SQLite)."""
    if sqlite:
        julian_day = func.julianday(literal_column("'now'"))
        return (julian_day - literal_column("2440587.5")) * literal_column("86400000.0")
    epoch_s = extract("epoch", func.statement_timestamp())
    return cast(epoch_s * literal_column("1000"), Double)


def _least(sqlite: bool, *values: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.min(*values) if sqlite else func.least(*values)


def _greatest(sqlite: bool, *values: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.max(*values) if sqlite else func.greatest(*values)


def _reserve(
    sqlite: bool, connector: str, want: int, per_slot: int, slot_ms: float
) -> ReturningInsert[Any]:
    """One upsert: the slot's row created with what it grants, or its ``used`` raised by
    what is left of ``per_slot`` (up to ``want``).

    SET expressions all read the row as it was before the update (in both databases), so
    ``granted`` is what this very statement added: RETURNING hands it back in the same trip.
    """
    now = _now_ms(sqlite)
    per_ms = literal(slot_ms, Double)
    slot = cast(now / per_ms, Integer) if sqlite else cast(func.floor(now / per_ms), BigInteger)
    asked, budget = literal(want, Integer), literal(per_slot, Integer)
    first = _least(sqlite, asked, budget)
    more = _greatest(sqlite, literal_column("0"), _least(sqlite, asked, budget - link_rates.c.used))
    # The WHERE of the SELECT is required by SQLite: without one, it would read ON CONFLICT
    # as part of the SELECT (SQLite documentation, "UPSERT", 2.2 Parsing Ambiguity).
    fresh = select(literal(connector, String), slot, first, first).where(true())
    insert = sqlite_insert(link_rates) if sqlite else pg_insert(link_rates)
    return (
        insert.from_select(["connector", "slot", "used", "granted"], fresh)
        .on_conflict_do_update(
            index_elements=[link_rates.c.connector, link_rates.c.slot],
            set_={"granted": more, "used": link_rates.c.used + more},
        )
        .returning(link_rates.c.slot, link_rates.c.granted, now.label("now_ms"))
    )


class LinkRates:
    """Reservations against the shared per-slot budgets (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pruned_at = 0.0

    async def reserve(
        self, connector: str, want: int, per_slot: int, slot_ms: float
    ) -> tuple[int, float]:
        """Take up to ``want`` of the ``per_slot`` submit_sm allowed in the current slot;
        return how many were granted and the milliseconds left in that slot."""
        statement = _reserve(self._db.is_sqlite, connector, want, per_slot, slot_ms)
        # Background work: on SQLite it takes its turn behind what clients wait for.
        async with self._db.write(urgent=False) as conn:
            row = (await conn.execute(statement)).one()
        slot, granted, now_ms = int(row.slot), int(row.granted), float(row.now_ms)
        if time.monotonic() - self._pruned_at > _PRUNE_EVERY:
            self._pruned_at = time.monotonic()
            await self.prune(connector, slot - _KEEP_SLOTS)
        return granted, max(0.0, (slot + 1) * slot_ms - now_ms)

    async def prune(self, connector: str, before_slot: int) -> None:
        """Delete the slots of ``connector`` numbered below ``before_slot``."""
        async with self._db.write(urgent=False) as conn:
            await conn.execute(
                delete(link_rates).where(
                    link_rates.c.connector == connector, link_rates.c.slot < before_slot
                )
            )
