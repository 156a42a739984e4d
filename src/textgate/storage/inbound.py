"""Inbound messages: storing them (reassembling concatenated ones durably) and reading them.

A part of a concatenated message is written to ``inbound_parts`` in the same transaction
that checks whether its siblings are all there; the last one to arrive turns the group into
one ``inbound_messages`` row and deletes the parts. Parts whose siblings never arrive are
stored as an incomplete message by :meth:`InboundRepo.flush_stale` rather than kept forever:
the operator was told they were received. (A part the operator sends again after its
message was completed starts a new group and ends up stored as an incomplete message:
visible, flagged, never silently dropped. Keeping completed groups to swallow such repeats
would instead swallow a new message that reuses the 8-bit reference.)

On PostgreSQL two parts of one message may arrive on two binds handled by two processes;
each would insert its part and, not seeing the other's uncommitted row, leave the group
incomplete. A transaction-scoped advisory lock on the group's key serialises them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from textgate.core.clock import Clock, from_ms, system_clock, to_ms
from textgate.core.ids import IdGenerator
from textgate.core.inbound import Inbound, InboundMessage, Keywords, join_parts
from textgate.errors import NotFound
from textgate.storage.db import Database
from textgate.storage.txn import Many, Query, Txn

__all__ = ["InboundFilter", "InboundRepo", "Route"]

Route = Callable[[str], str | None]
"""Recipient number -> id of the account that owns it (None: nobody yet)."""

_COLUMNS = (
    "id, account_id, connector, external_id, sender, recipient, text, parts, total_parts,"
    " received_at, read_at, alias"
)
_INSERT = (
    "INSERT INTO inbound_messages (id, account_id, connector, external_id, sender, recipient,"
    " text, parts, total_parts, received_at, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_GROUP = "connector = ? AND sender = ? AND recipient = ? AND reference = ? AND total = ?"
# Statements below are assembled from these constants only (S608 noqa); every value is a
# bound parameter.


class _Stored(NamedTuple):
    id: str
    account_id: str | None
    sender: str
    text: str


_NO_KEYWORDS = Keywords()


@dataclass(frozen=True, slots=True)
class InboundFilter:
    since_ms: int | None = None
    sender: str | None = None
    unread: bool = False
    before_id: str | None = None
    """Cursor: only messages older than this id (ids sort by arrival)."""


def _row(r: Any) -> Inbound:
    return Inbound(
        id=r["id"],
        account_id=r["account_id"],
        connector=r["connector"],
        sender=r["sender"],
        recipient=r["recipient"],
        text=r["text"],
        received_at=from_ms(r["received_at"]),
        parts=r["parts"],
        total_parts=r["total_parts"],
        external_id=r["external_id"],
        read_at=None if r["read_at"] is None else from_ms(r["read_at"]),
        alias=r["alias"],
    )


def _group_lock_key(group: tuple[str, str, str, int, int]) -> int:
    digest = hashlib.blake2b(repr(group).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class InboundRepo:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock
        self._ids = IdGenerator()

    async def store(
        self, items: Sequence[InboundMessage], route: Route, keywords: Keywords = _NO_KEYWORDS
    ) -> list[str]:
        """Store whole messages and parts; returns the ids of the messages completed. A
        completed message that is an opt-out (opt-in) keyword puts its sender on (takes it
        off) the owner's opt-out list in the same transaction."""
        now = self._clock()
        ids = self._ids

        def txn() -> Txn[list[str]]:
            stored: list[_Stored] = []
            rows = []
            for item in items:
                if item.part is None or item.part.total <= 1:
                    stored.append(_Stored(ids(now), route(item.recipient), item.sender, item.text))
                    rows.append(
                        (
                            stored[-1].id,
                            stored[-1].account_id,
                            item.connector,
                            item.external_id,
                            item.sender,
                            item.recipient,
                            item.text,
                            1,
                            1,
                            to_ms(item.received_at),
                            now,
                        )
                    )
            if rows:
                yield Many(_INSERT, rows)
            for item in items:
                if item.part is not None and item.part.total > 1:
                    done = yield from _add_part(item, route, ids, now)
                    if done is not None:
                        stored.append(done)
            yield from _apply_keywords(stored, keywords, now)
            return [m.id for m in stored]

        return await self._db.txn(txn, link=True)

    async def flush_stale(
        self, older_than_ms: int, route: Route, keywords: Keywords = _NO_KEYWORDS
    ) -> list[str]:
        """Store every group with a part stored before ``older_than_ms`` as it is."""
        now = self._clock()
        ids = self._ids

        def txn() -> Txn[list[str]]:
            groups = yield Query(
                "SELECT DISTINCT connector, sender, recipient, reference, total"
                " FROM inbound_parts WHERE created_at < ?",
                (older_than_ms,),
            )
            stored = []
            for g in groups or ():
                key = (g["connector"], g["sender"], g["recipient"], g["reference"], g["total"])
                done = yield from _assemble(key, route, ids, now, force=True)
                if done is not None:
                    stored.append(done)
            yield from _apply_keywords(stored, keywords, now)
            return [m.id for m in stored]

        return await self._db.txn(txn, urgent=True)

    async def get(self, account_id: str, inbound_id: str) -> Inbound:
        def txn() -> Txn[Inbound | None]:
            rows = yield Query(
                f"SELECT {_COLUMNS} FROM inbound_messages WHERE id = ? AND account_id = ?",  # noqa: S608
                (inbound_id, account_id),
            )
            return _row(rows[0]) if rows else None

        found = await self._db.txn(txn, urgent=True)
        if found is None:
            raise NotFound(f"no inbound message {inbound_id}")
        return found

    async def update(
        self,
        account_id: str,
        inbound_id: str,
        *,
        read: bool | None = None,
        alias: str | None = None,
        clear_alias: bool = False,
    ) -> Inbound:
        """Mark read/unread and set or clear the alias; NotFound for another's message."""
        now = self._clock()
        sets: list[str] = []
        params: list[Any] = []
        if read is not None:
            sets.append("read_at = ?" if read else "read_at = NULL")
            params += [now] if read else []
        if alias is not None or clear_alias:
            sets.append("alias = ?")
            params.append(None if clear_alias else alias)
        sql = (
            f"UPDATE inbound_messages SET {', '.join(sets)}"  # noqa: S608
            " WHERE id = ? AND account_id = ?"
        )

        def txn() -> Txn[Inbound | None]:
            if sets:
                yield Query(sql, (*params, inbound_id, account_id))
            rows = yield Query(
                f"SELECT {_COLUMNS} FROM inbound_messages WHERE id = ? AND account_id = ?",  # noqa: S608
                (inbound_id, account_id),
            )
            return _row(rows[0]) if rows else None

        found = await self._db.txn(txn, urgent=True)
        if found is None:
            raise NotFound(f"no inbound message {inbound_id}")
        return found

    async def delete(self, account_id: str, inbound_id: str) -> None:
        def txn() -> Txn[bool]:
            rows = yield Query(
                "SELECT id FROM inbound_messages WHERE id = ? AND account_id = ?",
                (inbound_id, account_id),
            )
            if not rows:
                return False
            yield Many("DELETE FROM inbound_messages WHERE id = ?", [(inbound_id,)])
            return True

        if not await self._db.txn(txn, urgent=True):
            raise NotFound(f"no inbound message {inbound_id}")

    async def search(self, account_id: str, flt: InboundFilter, *, limit: int) -> list[Inbound]:
        """Newest first."""
        where = ["account_id = ?"]
        params: list[Any] = [account_id]
        if flt.since_ms is not None:
            where.append("received_at >= ?")
            params.append(flt.since_ms)
        if flt.sender is not None:
            where.append("sender = ?")
            params.append(flt.sender)
        if flt.unread:
            where.append("read_at IS NULL")
        if flt.before_id is not None:
            where.append("id < ?")
            params.append(flt.before_id)
        sql = (
            f"SELECT {_COLUMNS} FROM inbound_messages WHERE {' AND '.join(where)}"  # noqa: S608
            f" ORDER BY id DESC LIMIT {int(limit)}"
        )

        def txn() -> Txn[list[Inbound]]:
            rows = yield Query(sql, tuple(params))
            return [_row(r) for r in rows or ()]

        return await self._db.txn(txn, urgent=True)

    async def unowned(self, *, limit: int = 100) -> list[Inbound]:
        """Messages to numbers no account owns, newest first (for operators)."""

        def txn() -> Txn[list[Inbound]]:
            rows = yield Query(
                f"SELECT {_COLUMNS} FROM inbound_messages WHERE account_id IS NULL"  # noqa: S608
                f" ORDER BY id DESC LIMIT {int(limit)}"
            )
            return [_row(r) for r in rows or ()]

        return await self._db.txn(txn, urgent=True)


def _add_part(
    item: InboundMessage, route: Route, ids: IdGenerator, now: int
) -> Txn[_Stored | None]:
    part = item.part
    assert part is not None
    key = (item.connector, item.sender, item.recipient, part.reference, part.total)
    yield Query("", pg_sql="SELECT pg_advisory_xact_lock(?)", pg_params=(_group_lock_key(key),))
    yield Many(
        "INSERT INTO inbound_parts (connector, sender, recipient, reference, total, sequence,"
        " text, external_id, received_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        # JSON keeps a lone surrogate (half of a character cut at the part boundary) in
        # ASCII, which every database stores; join_parts pairs the halves again.
        [
            (
                *key,
                part.sequence,
                json.dumps(item.text),
                item.external_id,
                to_ms(item.received_at),
                now,
            )
        ],
    )
    return (yield from _assemble(key, route, ids, now, force=False))


def _assemble(
    key: tuple[str, str, str, int, int], route: Route, ids: IdGenerator, now: int, *, force: bool
) -> Txn[_Stored | None]:
    """Turn the group's parts into a message when all are there (or ``force``)."""
    rows = yield Query(
        f"SELECT sequence, text, external_id, received_at FROM inbound_parts WHERE {_GROUP}"  # noqa: S608
        " ORDER BY sequence",
        key,
        pg_sql=f"SELECT sequence, text, external_id, received_at FROM inbound_parts"  # noqa: S608
        f" WHERE {_GROUP} ORDER BY sequence FOR UPDATE",
    )
    parts = list(rows or ())
    total = key[4]
    if not parts or (len(parts) < total and not force):
        return None
    connector, sender, recipient = key[0], key[1], key[2]
    message = _Stored(
        ids(now), route(recipient), sender, join_parts([json.loads(p["text"]) for p in parts])
    )
    yield Many(
        _INSERT,
        [
            (
                message.id,
                message.account_id,
                connector,
                parts[-1]["external_id"],
                sender,
                recipient,
                message.text,
                len(parts),
                total,
                max(p["received_at"] for p in parts),
                now,
            )
        ],
    )
    yield Many(f"DELETE FROM inbound_parts WHERE {_GROUP}", [key])  # noqa: S608
    return message


def _apply_keywords(stored: Sequence[_Stored], keywords: Keywords, now: int) -> Txn[None]:
    """Opt-out / opt-in keywords among stored messages (core.inbound.Keywords)."""
    out: list[tuple[str, str, str, int]] = []
    back: list[tuple[str, str]] = []
    for m in stored:
        account = m.account_id
        if account is None:
            continue  # nobody owns the number (yet): no list to change
        action = keywords.action(m.text)
        if action == "out":
            out.append((account, m.sender, "keyword", now))
        elif action == "in":
            back.append((account, m.sender))
    yield Many(
        "INSERT INTO opt_outs (account_id, number, source, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        out,
    )
    yield Many("DELETE FROM opt_outs WHERE account_id = ? AND number = ?", back)
