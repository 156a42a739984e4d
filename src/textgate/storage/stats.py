"""Aggregates over messages for the dashboard and the metrics endpoint.

Ranges are given in milliseconds but queried as id ranges: ids are ULIDs whose first 48
bits are the creation time, so ``id >= lowest_id(since)`` selects exactly the messages created
since then and runs on the ``(account_id, id)`` index (or the primary key for all accounts)
that paging already uses; no extra index on ``created_at`` is needed. Hours older than the
newest few come from hourly aggregates (``storage.rollups``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from textgate.core.accounts import ApiKey
from textgate.core.ids import id_time_ms
from textgate.storage.accounts import AccountRepo
from textgate.storage.db import Database
from textgate.storage.outcomes import IN_DOUBT
from textgate.storage.rollups import (
    HOUR_MS,
    NO_CONNECTOR,
    Rollups,
    id_range,
    latency_sum,
    lowest_id,
)
from textgate.storage.tables import accounts, messages, stats_hourly, webhook_deliveries

__all__ = ["Bucket", "CountRow", "StatsRepo"]


@dataclass(frozen=True, slots=True)
class Bucket:
    """One time slice of one status: how many messages, parts and credits, and for delivered
    messages the summed time from submission to the delivery report."""

    start_ms: int
    status: str
    count: int
    parts: int
    cost: int
    latency_ms_sum: int


@dataclass(frozen=True, slots=True)
class CountRow:
    status: str
    connector: str | None
    count: int


class StatsRepo:
    def __init__(self, db: Database, accounts_repo: AccountRepo) -> None:
        self._db = db
        self._accounts = accounts_repo
        self._rollups = Rollups(db)

    async def buckets(
        self, account_id: str | None, since_ms: int, until_ms: int, bucket_ms: int, now_ms: int
    ) -> list[Bucket]:
        """Messages created in ``[since_ms, until_ms)`` grouped by time slice and status
        (slices of whole hours, aligned on ``since_ms``, beyond the newest hours).

        A slice may come as several rows of the same status (aggregates and recent
        messages); callers add them up.
        """
        boundary = min(until_ms, self._rollups.boundary(now_ms))
        if bucket_ms % HOUR_MS or since_ms % HOUR_MS or boundary <= since_ms:
            return await self._live(account_id, since_ms, since_ms, until_ms, bucket_ms)
        await self._rollups.refresh(since_ms, boundary, now_ms)
        slot = (stats_hourly.c.hour - since_ms) // bucket_ms
        query = select(
            slot.label("slot"),
            stats_hourly.c.status,
            func.sum(stats_hourly.c.messages).label("n"),
            func.sum(stats_hourly.c.parts).label("parts"),
            func.sum(stats_hourly.c.cost).label("cost"),
            func.sum(stats_hourly.c.latency_ms).label("latency"),
        ).where(stats_hourly.c.hour >= since_ms, stats_hourly.c.hour < boundary)
        if account_id is not None:
            query = query.where(stats_hourly.c.account_id == account_id)
        async with self._db.read() as conn:
            rows = (await conn.execute(query.group_by(slot, stats_hourly.c.status))).all()
        older = [_bucket(r, since_ms, bucket_ms) for r in rows]
        return older + await self._live(account_id, since_ms, boundary, until_ms, bucket_ms)

    async def _live(
        self, account_id: str | None, origin: int, start: int, until: int, bucket_ms: int
    ) -> list[Bucket]:
        # Floor division: an integer slot number on every database (SQLAlchemy renders "/"
        # with a cast for true division, which would make every row its own group).
        slot = (messages.c.created_at - origin) // bucket_ms
        conds = id_range(start, until)
        if account_id is not None:
            conds.append(messages.c.account_id == account_id)
        query = (
            select(
                slot.label("slot"),
                messages.c.status,
                func.count().label("n"),
                func.sum(messages.c.segments).label("parts"),
                func.sum(messages.c.cost).label("cost"),
                latency_sum().label("latency"),
            )
            .where(*conds)
            .group_by(slot, messages.c.status)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_bucket(r, origin, bucket_ms) for r in rows]

    async def counts(self, now_ms: int) -> list[CountRow]:
        """Every message by status and connector (for the metrics endpoint): the hourly
        aggregates up to the newest hours, the messages themselves after."""
        boundary = self._rollups.boundary(now_ms)
        async with self._db.read() as conn:
            oldest = (await conn.execute(select(func.min(messages.c.id)))).scalar_one()
        totals: dict[tuple[str, str], int] = {}
        if oldest is not None:
            await self._rollups.refresh(id_time_ms(oldest), boundary, now_ms)
            aggregated = select(
                stats_hourly.c.status,
                stats_hourly.c.connector,
                func.sum(stats_hourly.c.messages).label("n"),
            ).group_by(stats_hourly.c.status, stats_hourly.c.connector)
            recent = (
                select(
                    messages.c.status,
                    func.coalesce(messages.c.connector, NO_CONNECTOR).label("connector"),
                    func.count().label("n"),
                )
                .where(messages.c.id >= lowest_id(boundary))
                .group_by(messages.c.status, messages.c.connector)
            )
            async with self._db.read() as conn:
                for query in (aggregated, recent):
                    for r in await conn.execute(query):
                        key = (r.status, r.connector)
                        totals[key] = totals.get(key, 0) + int(r.n)
        return [
            CountRow(status, connector or None, n)
            for (status, connector), n in sorted(totals.items())
        ]

    async def queue_counts(self) -> tuple[int, int]:
        """(waiting, in doubt). Waiting: messages accepted and not yet handed to a
        connector: due, scheduled or waiting to retry, the rows with a next attempt time
        (the dispatcher's partial index). In doubt: those of them whose last hand-off went
        unanswered (``error_code`` ``in_doubt``, see ``storage.queue``): each may already
        have reached the carrier, so an operator watches this number after an outage."""
        query = select(func.count(), func.count().filter(messages.c.error_code == IN_DOUBT)).where(
            messages.c.next_attempt_at.is_not(None)
        )
        async with self._db.read() as conn:
            waiting, in_doubt = (await conn.execute(query)).one()
            return int(waiting), int(in_doubt)

    async def webhook_backlog(self) -> int:
        # A delivery is pending while it has a next attempt (see storage.outbox); the partial
        # index on that column makes this count cheap.
        query = select(func.count()).where(webhook_deliveries.c.next_attempt_at.is_not(None))
        async with self._db.read() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def account_names(self, ids: Sequence[str]) -> dict[str, str]:
        if not ids:
            return {}
        query = select(accounts.c.id, accounts.c.name).where(accounts.c.id.in_(list(ids)))
        async with self._db.read() as conn:
            return {r.id: r.name for r in await conn.execute(query)}

    async def accounts(self, limit: int = 500) -> list[tuple[str, str]]:
        """(id, name) of the accounts, by name."""
        query = select(accounts.c.id, accounts.c.name).order_by(accounts.c.name).limit(limit)
        async with self._db.read() as conn:
            return [(r.id, r.name) for r in await conn.execute(query)]

    async def keys(self, account_id: str) -> list[ApiKey]:
        return await self._accounts.list_keys(account_id)


def _bucket(r: Any, origin: int, bucket_ms: int) -> Bucket:
    return Bucket(
        start_ms=origin + int(r.slot) * bucket_ms,
        status=r.status,
        count=int(r.n),
        parts=int(r.parts or 0),
        cost=int(r.cost or 0),
        latency_ms_sum=int(r.latency or 0),
    )
