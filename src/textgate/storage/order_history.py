"""Orders as a history: one line per submit request, paged, and lookups by the client's id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func, select, union

from textgate.core.clock import from_ms
from textgate.storage.db import Database
from textgate.storage.tables import device_messages, message_devices, messages, orders

__all__ = ["OrderHistoryRepo", "OrderSummary"]


@dataclass(frozen=True, slots=True)
class OrderSummary:
    id: str
    client_ref: str | None
    created_at: datetime
    interface: str
    recipients: int
    sender: str | None = None
    quality: str | None = None
    scheduled_at: datetime | None = None


class OrderHistoryRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def find(self, account_id: str, ref: str) -> str | None:
        """The order a client's reference names: its own order id (the newest order that
        carries it) or textgate's."""
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(orders.c.id)
                    .where(orders.c.account_id == account_id, orders.c.client_ref == ref)
                    .order_by(orders.c.id.desc())
                    .limit(1)
                )
            ).first()
            if row is None:
                row = (
                    await conn.execute(
                        select(orders.c.id).where(
                            orders.c.account_id == account_id, orders.c.id == ref
                        )
                    )
                ).first()
        return None if row is None else str(row.id)

    async def page(
        self,
        account_id: str,
        *,
        since_ms: int | None,
        until_ms: int | None,
        offset: int,
        limit: int,
        newest_first: bool,
        device_id: str | None = None,
        some_status: frozenset[str] | None = None,
        no_status: frozenset[str] = frozenset(),
    ) -> tuple[int, list[OrderSummary]]:
        """(orders matching in all, this page of them); ``device_id``: only orders with a
        message that phone took, or that their client sent through it; ``some_status``:
        only orders with a message in one of these statuses, and ``no_status``: none in
        any of those (together: an order by its least advanced recipient)."""
        where: list[Any] = [orders.c.account_id == account_id]
        if some_status is not None:
            where.append(_has_status(account_id, some_status))
        if no_status:
            where.append(~_has_status(account_id, no_status))
        if device_id is not None:
            m, dm, md = messages.c, device_messages.c, message_devices.c
            taken = select(m.order_id).join(device_messages, dm.message_id == m.id)
            named = select(m.order_id).join(message_devices, md.message_id == m.id)
            where.append(
                orders.c.id.in_(
                    union(
                        taken.where(dm.device_id == device_id, dm.account_id == account_id),
                        named.where(md.device_id == device_id, m.account_id == account_id),
                    )
                )
            )
        if since_ms is not None:
            where.append(orders.c.created_at >= since_ms)
        if until_ms is not None:
            where.append(orders.c.created_at <= until_ms)
        order = orders.c.id.desc() if newest_first else orders.c.id.asc()
        query: Select[Any] = (
            select(orders).where(*where).order_by(order).offset(offset).limit(limit)
        )
        async with self._db.read() as conn:
            total = (
                await conn.execute(select(func.count()).select_from(orders).where(*where))
            ).scalar()
            rows = (await conn.execute(query)).all()
            firsts: dict[str, Any] = {}
            if rows:
                # What the order's messages share (sender, class, schedule), from its first.
                detail = await conn.execute(
                    select(
                        messages.c.order_id,
                        messages.c.sender,
                        messages.c.quality,
                        messages.c.scheduled_at,
                    )
                    .where(
                        messages.c.account_id == account_id,
                        messages.c.order_id.in_([r.id for r in rows]),
                    )
                    .order_by(messages.c.id.desc())
                )
                for line in detail:
                    firsts[line.order_id] = line
        out = []
        for r in rows:
            d = firsts.get(r.id)
            out.append(
                OrderSummary(
                    id=r.id,
                    client_ref=r.client_ref,
                    created_at=from_ms(r.created_at),
                    interface=r.interface,
                    recipients=r.recipients,
                    sender=None if d is None else d.sender,
                    quality=None if d is None else d.quality,
                    scheduled_at=None
                    if d is None or d.scheduled_at is None
                    else from_ms(d.scheduled_at),
                )
            )
        return int(total or 0), out


def _has_status(account_id: str, statuses: frozenset[str]) -> Any:
    """The order has a message in one of ``statuses`` (through the messages' order index)."""
    return exists().where(
        messages.c.order_id == orders.c.id,
        messages.c.account_id == account_id,
        messages.c.status.in_(sorted(statuses)),
    )
