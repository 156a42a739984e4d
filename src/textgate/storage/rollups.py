"""Hourly aggregates of messages (``stats_hourly``), so long overview ranges read a few
thousand rows instead of every message.

An hour's aggregate is computed from ``messages`` on first use and recomputed while its
messages may still change: a delivery report can come until the validity period ends, so an
hour counts as settled only ``SETTLE_MS`` after it ended; until then its aggregate is reused
for ``REFRESH_MS`` at most. The newest ``LIVE_MS`` are never aggregated: callers read them
from ``messages`` directly, which is cheap for a few hours.
"""

from __future__ import annotations

import asyncio
from typing import Final

from sqlalchemy import ColumnElement, case, func, select

from textgate.core.message import Status
from textgate.errors import Conflict
from textgate.storage.db import Database
from textgate.storage.tables import messages, stats_hours
from textgate.storage.txn import Many, Query, Txn

__all__ = ["HOUR_MS", "LIVE_MS", "NO_CONNECTOR", "Rollups", "id_range", "latency_sum"]

HOUR_MS: Final = 3_600_000
LIVE_MS: Final = 2 * HOUR_MS
# SMPP validity periods rarely exceed 48-72 hours: after that no report changes a message.
SETTLE_MS: Final = 72 * HOUR_MS
REFRESH_MS: Final = 10 * 60_000
# Hours recomputed per transaction: bounds how long one refresh holds the write turn.
CHUNK_HOURS: Final = 24
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
NO_CONNECTOR: Final = ""


def lowest_id(ms: int) -> str:
    """The smallest id that can be made at millisecond ``ms`` (time bits, zero randomness)."""
    value = max(0, ms) << 80
    return "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


def id_range(since_ms: int, until_ms: int) -> list[ColumnElement[bool]]:
    """Messages created in ``[since_ms, until_ms)``, as a range of their (time-sortable) ids."""
    return [messages.c.id >= lowest_id(since_ms), messages.c.id < lowest_id(until_ms)]


def latency_sum() -> ColumnElement[int]:
    delivered = messages.c.status == Status.DELIVERED.value
    return func.coalesce(
        func.sum(case((delivered, messages.c.updated_at - messages.c.created_at), else_=0)), 0
    )


class Rollups:
    def __init__(self, db: Database) -> None:
        self._db = db
        # One refresh at a time per process; others wait and then find the hours fresh.
        self._lock = asyncio.Lock()

    @staticmethod
    def boundary(now_ms: int) -> int:
        """Hours before this come from the aggregates; from it on, from ``messages``."""
        return (now_ms - LIVE_MS) // HOUR_MS * HOUR_MS

    async def refresh(self, since_ms: int, until_ms: int, now_ms: int) -> None:
        """Make the aggregates of the hours in ``[since_ms, until_ms)`` current enough."""
        first = since_ms // HOUR_MS * HOUR_MS
        async with self._lock:
            async with self._db.read() as conn:
                rows = await conn.execute(
                    select(stats_hours.c.hour, stats_hours.c.computed_at).where(
                        stats_hours.c.hour >= first, stats_hours.c.hour < until_ms
                    )
                )
                computed = {r.hour: r.computed_at for r in rows}
            stale = [
                h for h in range(first, until_ms, HOUR_MS) if not _fresh(h, computed.get(h), now_ms)
            ]
            for run in _runs(stale):
                await self._compute(run[0], run[-1] + HOUR_MS, now_ms)

    async def _compute(self, start: int, end: int, now_ms: int) -> None:
        # A background transaction: on SQLite it yields the write turn to submissions.
        def txn() -> Txn[None]:
            yield Query(_DELETE_HOURLY, (start, end))
            yield Query(_AGGREGATE, (lowest_id(start), lowest_id(end)))
            yield Query(_DELETE_HOURS, (start, end))
            yield Many(_MARK_HOUR, [(h, now_ms) for h in range(start, end, HOUR_MS)])

        try:
            await self._db.txn(txn)
        except Conflict:
            # Another process computed the same hours at the same moment: theirs will do.
            return


# Hours of creation from the millisecond timestamp; integer division on both databases.
_AGGREGATE = f"""
INSERT INTO stats_hourly
    (hour, account_id, status, connector, messages, parts, cost, latency_ms)
SELECT created_at / {HOUR_MS} * {HOUR_MS}, account_id, status, COALESCE(connector, ''),
    COUNT(*), COALESCE(SUM(segments), 0), COALESCE(SUM(cost), 0),
    COALESCE(SUM(CASE WHEN status = 'delivered' THEN updated_at - created_at ELSE 0 END), 0)
FROM messages WHERE id >= ? AND id < ?
GROUP BY created_at / {HOUR_MS}, account_id, status, COALESCE(connector, '')
"""  # noqa: S608 (constants only; the range is bound)
_DELETE_HOURLY = "DELETE FROM stats_hourly WHERE hour >= ? AND hour < ?"
_DELETE_HOURS = "DELETE FROM stats_hours WHERE hour >= ? AND hour < ?"
_MARK_HOUR = "INSERT INTO stats_hours (hour, computed_at) VALUES (?, ?)"


def _fresh(hour: int, computed_at: int | None, now_ms: int) -> bool:
    if computed_at is None:
        return False
    settled = computed_at >= hour + HOUR_MS + SETTLE_MS
    return settled or now_ms - computed_at < REFRESH_MS


def _runs(hours: list[int]) -> list[list[int]]:
    """Consecutive hours grouped, at most ``CHUNK_HOURS`` per group."""
    runs: list[list[int]] = []
    for h in hours:
        if runs and h == runs[-1][-1] + HOUR_MS and len(runs[-1]) < CHUNK_HOURS:
            runs[-1].append(h)
        else:
            runs.append([h])
    return runs
