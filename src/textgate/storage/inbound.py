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

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from textgate.core.clock import Clock, from_ms, system_clock, to_ms
from textgate.core.ids import IdGenerator
from textgate.core.inbound import Inbound, InboundMessage, Keywords, join_parts
from textgate.errors import NotFound
from textgate.storage.db import Database, conflicts
from textgate.storage.inbound_repeats import REPEAT_WINDOW_MS, unseen
from textgate.storage.tables import inbound_messages, inbound_parts, opt_outs

__all__ = ["REPEAT_WINDOW_MS", "InboundFilter", "InboundRepo", "Route"]

Route = Callable[[str], str | None]
"""Recipient number -> id of the account that owns it (None: nobody yet)."""

_m = inbound_messages.c
_p = inbound_parts.c
_COLUMNS = (
    _m.id,
    _m.account_id,
    _m.connector,
    _m.external_id,
    _m.sender,
    _m.recipient,
    _m.text,
    _m.parts,
    _m.total_parts,
    _m.received_at,
    _m.read_at,
    _m.alias,
)

Group = tuple[str, str, str, int, int]
"""connector, sender, recipient, reference, total: the parts of one message."""


class _Stored(NamedTuple):
    id: str
    account_id: str | None
    sender: str
    text: str


_NO_KEYWORDS = Keywords()


@dataclass(frozen=True, slots=True)
class InboundFilter:
    since_ms: int | None = None
    until_ms: int | None = None
    """Only messages received before this time (epoch ms)."""
    sender: str | None = None
    recipient: str | None = None
    unread: bool = False
    before_id: str | None = None
    """Cursor: only messages older than this id (ids sort by arrival)."""


def _row(r: Any) -> Inbound:
    return Inbound(
        id=r.id,
        account_id=r.account_id,
        connector=r.connector,
        sender=r.sender,
        recipient=r.recipient,
        text=r.text,
        received_at=from_ms(r.received_at),
        parts=r.parts,
        total_parts=r.total_parts,
        external_id=r.external_id,
        read_at=None if r.read_at is None else from_ms(r.read_at),
        alias=r.alias,
    )


def _message_row(message: _Stored, item: InboundMessage, now: int) -> dict[str, Any]:
    return {
        "id": message.id,
        "account_id": message.account_id,
        "connector": item.connector,
        "external_id": item.external_id,
        "sender": item.sender,
        "recipient": item.recipient,
        "text": item.text,
        "parts": 1,
        "total_parts": 1,
        "received_at": to_ms(item.received_at),
        "created_at": now,
    }


def _group_lock_key(group: Group) -> int:
    digest = hashlib.blake2b(repr(group).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _in_group(key: Group) -> list[ColumnElement[bool]]:
    connector, sender, recipient, reference, total = key
    return [
        _p.connector == connector,
        _p.sender == sender,
        _p.recipient == recipient,
        _p.reference == reference,
        _p.total == total,
    ]


def _owned(account_id: str, inbound_id: str) -> list[ColumnElement[bool]]:
    return [_m.id == inbound_id, _m.account_id == account_id]


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
        # An operator link waits for the answer: on SQLite it takes the write turn first.
        with conflicts():
            async with self._db.write(link=True) as conn:
                # Ids are made once the write turn is ours: on SQLite transactions then
                # commit in id order, which the webhook feed relies on (storage.webhook_feed).
                stored = await unseen(
                    conn, self._whole(items, route, now), now, pg=not self._db.is_sqlite
                )
                if stored:
                    rows = [_message_row(m, item, now) for m, item in stored]
                    await conn.execute(insert(inbound_messages), rows)
                completed = [m for m, _ in stored]
                for item in items:
                    if item.part is not None and item.part.total > 1:
                        done = await self._add_part(conn, item, route, now)
                        if done is not None:
                            completed.append(done)
                await self._apply_keywords(conn, completed, keywords, now)
        return [m.id for m in completed]

    def _whole(
        self, items: Sequence[InboundMessage], route: Route, now: int
    ) -> list[tuple[_Stored, InboundMessage]]:
        """The messages that came whole (not as parts), with their new ids."""
        return [
            (_Stored(self._ids(now), route(item.recipient), item.sender, item.text), item)
            for item in items
            if item.part is None or item.part.total <= 1
        ]

    async def flush_stale(
        self, older_than_ms: int, route: Route, keywords: Keywords = _NO_KEYWORDS
    ) -> list[str]:
        """Store every group with a part stored before ``older_than_ms`` as it is."""
        now = self._clock()
        stored = []
        with conflicts():
            async with self._db.write() as conn:
                groups = await conn.execute(
                    select(_p.connector, _p.sender, _p.recipient, _p.reference, _p.total)
                    .distinct()
                    .where(_p.created_at < older_than_ms)
                )
                for g in groups.all():
                    key = (g.connector, g.sender, g.recipient, g.reference, g.total)
                    done = await self._assemble(conn, key, route, now, force=True)
                    if done is not None:
                        stored.append(done)
                await self._apply_keywords(conn, stored, keywords, now)
        return [m.id for m in stored]

    async def get(self, account_id: str, inbound_id: str) -> Inbound:
        async with self._db.read() as conn:
            found = (
                await conn.execute(select(*_COLUMNS).where(*_owned(account_id, inbound_id)))
            ).first()
        if found is None:
            raise NotFound(f"no inbound message {inbound_id}")
        return _row(found)

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
        values: dict[str, Any] = {}
        if read is not None:
            values["read_at"] = now if read else None
        if alias is not None or clear_alias:
            values["alias"] = None if clear_alias else alias
        with conflicts():
            async with self._db.write() as conn:
                if values:
                    await conn.execute(
                        update(inbound_messages)
                        .where(*_owned(account_id, inbound_id))
                        .values(**values)
                    )
                found = (
                    await conn.execute(select(*_COLUMNS).where(*_owned(account_id, inbound_id)))
                ).first()
        if found is None:
            raise NotFound(f"no inbound message {inbound_id}")
        return _row(found)

    async def delete(self, account_id: str, inbound_id: str) -> None:
        async with self._db.write() as conn:
            found = (
                await conn.execute(select(_m.id).where(*_owned(account_id, inbound_id)))
            ).first()
            if found is not None:
                await conn.execute(delete(inbound_messages).where(_m.id == inbound_id))
        if found is None:
            raise NotFound(f"no inbound message {inbound_id}")

    async def search(self, account_id: str, flt: InboundFilter, *, limit: int) -> list[Inbound]:
        """Newest first."""
        where = [_m.account_id == account_id]
        if flt.since_ms is not None:
            where.append(_m.received_at >= flt.since_ms)
        if flt.until_ms is not None:
            where.append(_m.received_at < flt.until_ms)
        if flt.sender is not None:
            where.append(_m.sender == flt.sender)
        if flt.recipient is not None:
            where.append(_m.recipient == flt.recipient)
        if flt.unread:
            where.append(_m.read_at.is_(None))
        if flt.before_id is not None:
            where.append(_m.id < flt.before_id)
        query = select(*_COLUMNS).where(*where).order_by(_m.id.desc()).limit(int(limit))
        async with self._db.read() as conn:
            return [_row(r) for r in await conn.execute(query)]

    async def unowned(self, *, limit: int = 100) -> list[Inbound]:
        """Messages to numbers no account owns, newest first (for operators)."""
        query = (
            select(*_COLUMNS)
            .where(_m.account_id.is_(None))
            .order_by(_m.id.desc())
            .limit(int(limit))
        )
        async with self._db.read() as conn:
            return [_row(r) for r in await conn.execute(query)]

    def _insert_new(self, table: Table) -> Any:
        """An INSERT that skips rows already there (ON CONFLICT DO NOTHING)."""
        insert_into = sqlite_insert if self._db.is_sqlite else pg_insert
        return insert_into(table).on_conflict_do_nothing()

    async def _add_part(
        self, conn: AsyncConnection, item: InboundMessage, route: Route, now: int
    ) -> _Stored | None:
        part = item.part
        assert part is not None
        key = (item.connector, item.sender, item.recipient, part.reference, part.total)
        if not self._db.is_sqlite:
            # The lock key is a signed 64-bit integer: bound as BIGINT, not INTEGER.
            lock = func.pg_advisory_xact_lock(literal(_group_lock_key(key), BigInteger))
            await conn.execute(select(lock))
        connector, sender, recipient, reference, total = key
        await conn.execute(
            self._insert_new(inbound_parts),
            {
                "connector": connector,
                "sender": sender,
                "recipient": recipient,
                "reference": reference,
                "total": total,
                "sequence": part.sequence,
                # JSON keeps a lone surrogate (half of a character cut at the part
                # boundary) in ASCII, which every database stores; join_parts pairs the
                # halves again.
                "text": json.dumps(item.text),
                "external_id": item.external_id,
                "received_at": to_ms(item.received_at),
                "created_at": now,
            },
        )
        return await self._assemble(conn, key, route, now, force=False)

    async def _assemble(
        self, conn: AsyncConnection, key: Group, route: Route, now: int, *, force: bool
    ) -> _Stored | None:
        """Turn the group's parts into a message when all are there (or ``force``)."""
        parts = (
            await conn.execute(
                select(_p.sequence, _p.text, _p.external_id, _p.received_at)
                .where(*_in_group(key))
                .order_by(_p.sequence)
                .with_for_update()  # PostgreSQL only: SQLite has one writer
            )
        ).all()
        connector, sender, recipient, _, total = key
        if not parts or (len(parts) < total and not force):
            return None
        message = _Stored(
            self._ids(now),
            route(recipient),
            sender,
            join_parts([json.loads(p.text) for p in parts]),
        )
        await conn.execute(
            insert(inbound_messages).values(
                id=message.id,
                account_id=message.account_id,
                connector=connector,
                external_id=parts[-1].external_id,
                sender=sender,
                recipient=recipient,
                text=message.text,
                parts=len(parts),
                total_parts=total,
                received_at=max(p.received_at for p in parts),
                created_at=now,
            )
        )
        await conn.execute(delete(inbound_parts).where(*_in_group(key)))
        return message

    async def _apply_keywords(
        self, conn: AsyncConnection, stored: Sequence[_Stored], keywords: Keywords, now: int
    ) -> None:
        """Opt-out / opt-in keywords among stored messages (core.inbound.Keywords)."""
        out: list[dict[str, Any]] = []
        back: list[dict[str, Any]] = []
        for m in stored:
            account = m.account_id
            if account is None:
                continue  # nobody owns the number (yet): no list to change
            action = keywords.action(m.text)
            if action == "out":
                out.append(
                    {
                        "account_id": account,
                        "number": m.sender,
                        "source": "keyword",
                        "created_at": now,
                    }
                )
            elif action == "in":
                back.append({"account": account, "sender": m.sender})
        if out:
            await conn.execute(self._insert_new(opt_outs), out)
        if back:
            await conn.execute(
                delete(opt_outs).where(
                    opt_outs.c.account_id == bindparam("account"),
                    opt_outs.c.number == bindparam("sender"),
                ),
                back,
            )
