"""Conversations read from both sides: ``messages`` (outbound, by recipient) and
``inbound_messages`` (by sender), merged by time.

Refused messages (``rejected``) never left the gateway and are not part of a conversation.
Inbound messages are placed at ``received_at``, outbound ones at ``created_at``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from textgate.core.clock import from_ms
from textgate.core.conversations import Thread, ThreadItem
from textgate.core.message import Status
from textgate.storage.db import Database
from textgate.storage.tables import inbound_messages, messages

__all__ = ["ConversationRepo"]

_out_c = messages.c
_in_c = inbound_messages.c
_SENT = _out_c.status != Status.REJECTED.value


def _out(r: Any) -> ThreadItem:
    return ThreadItem("out", r.id, r.text, from_ms(r.at), status=r.status)


def _in(r: Any) -> ThreadItem:
    return ThreadItem("in", r.id, r.text, from_ms(r.at), read=r.read_at is not None)


def _newest_first(items: list[ThreadItem]) -> list[ThreadItem]:
    return sorted(items, key=lambda i: (i.at, i.id), reverse=True)


async def _items(
    conn: AsyncConnection, account_id: str, number: str, limit: int
) -> list[ThreadItem]:
    outs = await conn.execute(
        select(_out_c.id, _out_c.text, _out_c.created_at.label("at"), _out_c.status)
        .where(_out_c.account_id == account_id, _out_c.recipient == number, _SENT)
        .order_by(_out_c.created_at.desc(), _out_c.id.desc())
        .limit(limit)
    )
    ins = await conn.execute(
        select(_in_c.id, _in_c.text, _in_c.received_at.label("at"), _in_c.read_at)
        .where(_in_c.account_id == account_id, _in_c.sender == number)
        .order_by(_in_c.received_at.desc(), _in_c.id.desc())
        .limit(limit)
    )
    merged = [_out(r) for r in outs] + [_in(r) for r in ins]
    return _newest_first(merged)[:limit]


class ConversationRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def threads(self, account_id: str, *, limit: int) -> list[Thread]:
        """One per remote number, the most recently active first."""
        summary: dict[str, list[int]] = {}  # number -> [last at, messages, unread]
        async with self._db.read() as conn:
            outs = await conn.execute(
                select(
                    _out_c.recipient.label("number"),
                    func.max(_out_c.created_at).label("at"),
                    func.count().label("n"),
                )
                .where(_out_c.account_id == account_id, _SENT)
                .group_by(_out_c.recipient)
            )
            for r in outs:
                summary[r.number] = [r.at, r.n, 0]
            unread = func.sum(case((_in_c.read_at.is_(None), 1), else_=0))
            ins = await conn.execute(
                select(
                    _in_c.sender.label("number"),
                    func.max(_in_c.received_at).label("at"),
                    func.count().label("n"),
                    unread.label("unread"),
                )
                .where(_in_c.account_id == account_id)
                .group_by(_in_c.sender)
            )
            for r in ins:
                at, n, waiting = summary.get(r.number, [0, 0, 0])
                summary[r.number] = [max(at, r.at), n + r.n, waiting + int(r.unread)]
            page = sorted(summary.items(), key=lambda kv: (kv[1][0], kv[0]), reverse=True)
            threads = []
            for number, (_, n, waiting) in page[:limit]:
                [last] = await _items(conn, account_id, number, 1)
                threads.append(Thread(number, last, n, waiting))
        return threads

    async def thread(self, account_id: str, number: str, *, limit: int) -> list[ThreadItem]:
        """The latest ``limit`` messages exchanged with ``number``, newest first."""
        async with self._db.read() as conn:
            return await _items(conn, account_id, number, limit)
