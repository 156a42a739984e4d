"""Conversations read from both sides: ``messages`` (outbound, by recipient) and
``inbound_messages`` (by sender), merged by time.

Refused messages (``rejected``) never left the gateway and are not part of a conversation.
Inbound messages are placed at ``received_at``, outbound ones at ``created_at``.
"""

from __future__ import annotations

from typing import Any

from textgate.core.clock import from_ms
from textgate.core.conversations import Thread, ThreadItem
from textgate.storage.db import Database
from textgate.storage.txn import Query, Txn

__all__ = ["ConversationRepo"]

_OUT_THREADS = (
    "SELECT recipient AS number, MAX(created_at) AS at, COUNT(*) AS n FROM messages"
    " WHERE account_id = ? AND status <> 'rejected' GROUP BY recipient"
)
_IN_THREADS = (
    "SELECT sender AS number, MAX(received_at) AS at, COUNT(*) AS n,"
    " SUM(CASE WHEN read_at IS NULL THEN 1 ELSE 0 END) AS unread"
    " FROM inbound_messages WHERE account_id = ? GROUP BY sender"
)
_OUT_ITEMS = (
    "SELECT id, text, created_at AS at, status FROM messages"
    " WHERE account_id = ? AND recipient = ? AND status <> 'rejected'"
    " ORDER BY created_at DESC, id DESC LIMIT ?"
)
_IN_ITEMS = (
    "SELECT id, text, received_at AS at, read_at FROM inbound_messages"
    " WHERE account_id = ? AND sender = ? ORDER BY received_at DESC, id DESC LIMIT ?"
)


def _out(r: Any) -> ThreadItem:
    return ThreadItem("out", r["id"], r["text"], from_ms(r["at"]), status=r["status"])


def _in(r: Any) -> ThreadItem:
    return ThreadItem("in", r["id"], r["text"], from_ms(r["at"]), read=r["read_at"] is not None)


def _newest_first(items: list[ThreadItem]) -> list[ThreadItem]:
    return sorted(items, key=lambda i: (i.at, i.id), reverse=True)


def _items(account_id: str, number: str, limit: int) -> Txn[list[ThreadItem]]:
    outs = yield Query(_OUT_ITEMS, (account_id, number, limit))
    ins = yield Query(_IN_ITEMS, (account_id, number, limit))
    merged = [_out(r) for r in outs or ()] + [_in(r) for r in ins or ()]
    return _newest_first(merged)[:limit]


class ConversationRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def threads(self, account_id: str, *, limit: int) -> list[Thread]:
        """One per remote number, the most recently active first."""

        def txn() -> Txn[list[Thread]]:
            summary: dict[str, list[int]] = {}  # number -> [last at, messages, unread]
            for r in (yield Query(_OUT_THREADS, (account_id,))) or ():
                summary[r["number"]] = [r["at"], r["n"], 0]
            for r in (yield Query(_IN_THREADS, (account_id,))) or ():
                at, n, unread = summary.get(r["number"], [0, 0, 0])
                summary[r["number"]] = [max(at, r["at"]), n + r["n"], unread + int(r["unread"])]
            page = sorted(summary.items(), key=lambda kv: (kv[1][0], kv[0]), reverse=True)
            threads = []
            for number, (_, n, unread) in page[:limit]:
                [last] = yield from _items(account_id, number, 1)
                threads.append(Thread(number, last, n, unread))
            return threads

        return await self._db.txn(txn, urgent=True)

    async def thread(self, account_id: str, number: str, *, limit: int) -> list[ThreadItem]:
        """The latest ``limit`` messages exchanged with ``number``, newest first."""
        return await self._db.txn(lambda: _items(account_id, number, limit), urgent=True)
