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

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Insert,
    case,
    delete,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.exc import IntegrityError

from textgate.core.message import Status
from textgate.storage.db import Database
from textgate.storage.tables import messages, stats_hourly, stats_hours

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
        hourly, hours = stats_hourly.c, stats_hours.c
        try:
            # A background transaction: on SQLite it yields the write turn to submissions.
            async with self._db.write(urgent=False) as conn:
                await conn.execute(
                    delete(stats_hourly).where(hourly.hour >= start, hourly.hour < end)
                )
                await conn.execute(_aggregate(start, end))
                await conn.execute(delete(stats_hours).where(hours.hour >= start, hours.hour < end))
                await conn.execute(
                    insert(stats_hours),
                    [{"hour": h, "computed_at": now_ms} for h in range(start, end, HOUR_MS)],
                )
        except IntegrityError:
            # Another process computed the same hours at the same moment: theirs will do.
            return


def _aggregate(start: int, end: int) -> Insert:
    """The aggregates of the messages created in ``[start, end)``. The hour and the
    connector are computed from constants written into the statement, not bound: GROUP BY
    must repeat the selected expressions exactly, which PostgreSQL does not see through
    distinct parameters."""
    m = messages.c
    hour_ms = literal_column(str(HOUR_MS), BigInteger)
    hour = m.created_at // hour_ms * hour_ms
    connector = func.coalesce(m.connector, literal_column(repr(NO_CONNECTOR)))
    aggregate = (
        select(
            hour,
            m.account_id,
            m.status,
            connector,
            func.count(),
            func.coalesce(func.sum(m.segments), 0),
            func.coalesce(func.sum(m.cost), 0),
            latency_sum(),
        )
        .where(*id_range(start, end))
        .group_by(hour, m.account_id, m.status, connector)
    )
    columns = ["hour", "account_id", "status", "connector", "messages", "parts", "cost"]
    return insert(stats_hourly).from_select([*columns, "latency_ms"], aggregate)


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
