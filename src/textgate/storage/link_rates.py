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
from typing import Final

from textgate.storage.db import Database
from textgate.storage.txn import Query, Txn

__all__ = ["LinkRates"]

# Milliseconds since the epoch, fixed for the whole statement on both databases
# (statement_timestamp() in PostgreSQL; 'now' is stable within one step in SQLite).
_NOW: Final = "((julianday('now') - 2440587.5) * 86400000.0)"
_PG_NOW: Final = "(extract(epoch FROM statement_timestamp()) * 1000)::float8"

# SET expressions all read the row as it was before the update (in both databases), so
# ``granted`` is what this very statement added: RETURNING hands it back in the same trip.
_RESERVE: Final = (
    "INSERT INTO link_rates (connector, slot, used, granted)"
    " SELECT ?, {slot}, {first}, {first} WHERE true"
    " ON CONFLICT (connector, slot) DO UPDATE SET"
    " granted = {more}, used = link_rates.used + {more}"
    " RETURNING slot, granted, {now} AS now_ms"
)


_INT: Final = "CAST(? AS INTEGER)"
_SLOT_MS: Final = "CAST(? AS DOUBLE PRECISION)"


def _reserve_sql(now: str, slot: str, least: str, greatest: str) -> str:
    return _RESERVE.format(
        slot=slot,
        first=f"{least}({_INT}, {_INT})",
        more=f"{greatest}(0, {least}({_INT}, {_INT} - link_rates.used))",
        now=now,
    )


_SQLITE_RESERVE: Final = _reserve_sql(_NOW, f"CAST({_NOW} / {_SLOT_MS} AS INTEGER)", "MIN", "MAX")
_PG_RESERVE: Final = _reserve_sql(
    _PG_NOW, f"CAST(floor({_PG_NOW} / {_SLOT_MS}) AS BIGINT)", "LEAST", "GREATEST"
)

_PRUNE_EVERY: Final = 60.0
"""Seconds between deletions of spent slots (by each process)."""
_KEEP_SLOTS: Final = 10
"""Spent slots kept behind the current one (a look back for operators)."""


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
        params = (connector, slot_ms, *(want, per_slot) * 4)

        def txn() -> Txn[tuple[int, int, float]]:
            rows = yield Query(_SQLITE_RESERVE, params, pg_sql=_PG_RESERVE)
            row = (rows or [])[0]
            return int(row["slot"]), int(row["granted"]), float(row["now_ms"])

        slot, granted, now_ms = await self._db.txn(txn)
        if time.monotonic() - self._pruned_at > _PRUNE_EVERY:
            self._pruned_at = time.monotonic()
            await self.prune(connector, slot - _KEEP_SLOTS)
        return granted, max(0.0, (slot + 1) * slot_ms - now_ms)

    async def prune(self, connector: str, before_slot: int) -> None:
        """Delete the slots of ``connector`` numbered below ``before_slot``."""

        def txn() -> Txn[None]:
            yield Query(
                "DELETE FROM link_rates WHERE connector = ? AND slot < ?",
                (connector, before_slot),
            )

        await self._db.txn(txn)
