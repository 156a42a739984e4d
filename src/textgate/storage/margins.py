"""Upstream cost beside what accounts were charged, summed by connector or by country.

Messages count in the period they were created in, selected as a range of their
time-sortable ids (see ``storage.stats``). What an account was charged for a message is its
``cost`` less any refund of it (a message that failed before any operator took it is
refunded, see ``storage.credits``); what it cost upstream is ``upstream_cost``, unknown
(NULL) for messages no connector took and for connectors without a price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, func, literal, select

from textgate.storage.db import Database
from textgate.storage.rollups import id_range
from textgate.storage.tables import ledger, messages

__all__ = ["MarginRepo", "MarginRow"]

Grouping = Literal["connector", "country"]


@dataclass(frozen=True, slots=True)
class MarginRow:
    key: str
    """The connector or the country; "" for none (not handed over, no known country)."""
    messages: int
    parts: int
    charged: int
    """Micro-credits charged to accounts, refunds deducted."""
    cost: int
    """Micro-credits paid upstream, as far as known."""
    priced: int
    """Messages whose upstream cost is known."""


class MarginRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def totals(
        self, by: Grouping, since_ms: int, until_ms: int, account_id: str | None = None
    ) -> list[MarginRow]:
        m = messages.c
        column = m.connector if by == "connector" else m.country
        key = func.coalesce(column, literal(""))
        refunds = and_(ledger.c.message_id == m.id, ledger.c.kind == "refund")
        conds = id_range(since_ms, until_ms)
        if account_id is not None:
            conds.append(m.account_id == account_id)
        query = (
            select(
                key.label("key"),
                func.count().label("n"),
                func.sum(m.segments).label("parts"),
                func.sum(m.cost).label("charged"),
                func.sum(ledger.c.amount).label("refunded"),
                func.sum(m.upstream_cost).label("cost"),
                func.count(m.upstream_cost).label("priced"),
            )
            .select_from(messages.outerjoin(ledger, refunds))
            .where(*conds)
            .group_by(key)
            .order_by(key)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_row(r) for r in rows]


def _row(r: Any) -> MarginRow:
    return MarginRow(
        key=str(r.key),
        messages=int(r.n),
        parts=int(r.parts or 0),
        charged=int(r.charged or 0) - int(r.refunded or 0),
        cost=int(r.cost or 0),
        priced=int(r.priced or 0),
    )
