"""Aggregates over messages for the dashboard and the metrics endpoint.

Ranges are given in milliseconds but queried as id ranges: ids are ULIDs whose first 48
bits are the creation time, so ``id >= lowest_id(since)`` selects exactly the messages created
since then and runs on the ``(account_id, id)`` index (or the primary key for all accounts)
that paging already uses; no extra index on ``created_at`` is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select

from textgate.core.accounts import ApiKey
from textgate.core.message import Status
from textgate.storage.accounts import AccountRepo
from textgate.storage.db import Database
from textgate.storage.tables import accounts, messages, webhook_deliveries

__all__ = ["Bucket", "CountRow", "StatsRepo", "lowest_id"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def lowest_id(ms: int) -> str:
    """The smallest id that can be made at millisecond ``ms`` (time bits, zero randomness)."""
    value = max(0, ms) << 80
    return "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


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

    async def buckets(
        self, account_id: str | None, since_ms: int, until_ms: int, bucket_ms: int
    ) -> list[Bucket]:
        """Messages created in ``[since_ms, until_ms)`` grouped by time slice and status."""
        start = (messages.c.created_at - since_ms) / bucket_ms
        delivered = messages.c.status == Status.DELIVERED.value
        query = (
            select(
                start.label("slot"),
                messages.c.status,
                func.count().label("n"),
                func.sum(messages.c.segments).label("parts"),
                func.sum(messages.c.cost).label("cost"),
                func.sum(
                    case((delivered, messages.c.updated_at - messages.c.created_at), else_=0)
                ).label("latency"),
            )
            .where(*self._range(account_id, since_ms, until_ms))
            .group_by(start, messages.c.status)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Bucket(
                start_ms=since_ms + int(r.slot) * bucket_ms,
                status=r.status,
                count=int(r.n),
                parts=int(r.parts or 0),
                cost=int(r.cost or 0),
                latency_ms_sum=int(r.latency or 0),
            )
            for r in rows
        ]

    @staticmethod
    def _range(account_id: str | None, since_ms: int, until_ms: int) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = [
            messages.c.id >= lowest_id(since_ms),
            messages.c.id < lowest_id(until_ms),
        ]
        if account_id is not None:
            conds.append(messages.c.account_id == account_id)
        return conds

    async def counts(self) -> list[CountRow]:
        """Every message by status and connector (for the metrics endpoint)."""
        query = select(messages.c.status, messages.c.connector, func.count().label("n")).group_by(
            messages.c.status, messages.c.connector
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [CountRow(r.status, r.connector, int(r.n)) for r in rows]

    async def queue_depth(self) -> int:
        """Messages accepted and not yet handed to a connector: due, scheduled or waiting to
        retry. Those are the rows with a next attempt time (the dispatcher's partial index)."""
        query = select(func.count()).where(messages.c.next_attempt_at.is_not(None))
        async with self._db.read() as conn:
            return int((await conn.execute(query)).scalar_one())

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

    async def recent_status_counts(self, account_id: str | None, since_ms: int) -> dict[str, int]:
        query: Any = (
            select(messages.c.status, func.count().label("n"))
            .where(and_(*self._range(account_id, since_ms, 1 << 48)))
            .group_by(messages.c.status)
        )
        async with self._db.read() as conn:
            return {r.status: int(r.n) for r in await conn.execute(query)}
