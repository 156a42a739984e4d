"""Reading messages and their history; cancelling or replacing what has not left yet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.message import CANCELLABLE, Message, Status, StatusEvent
from textgate.core.policy import REASON_TEXT, Reason
from textgate.errors import Conflict, NotFound, PolicyDenied
from textgate.storage.credits import lock_balances, recent_sends, refund_failed
from textgate.storage.db import Database
from textgate.storage.queue import IN_DOUBT, INSERT_EVENT
from textgate.storage.tables import device_messages, message_devices, message_events, messages
from textgate.storage.txn import Many, Query, Txn, in_list

__all__ = ["MessageFilter", "MessageRepo", "message_from_row"]


def message_from_row(row: Any, events: Sequence[StatusEvent] = ()) -> Message:
    return Message(
        id=row.id,
        order_id=row.order_id,
        account_id=row.account_id,
        recipient=row.recipient,
        sender=row.sender,
        text=row.text,
        encoding=row.encoding,
        segments=row.segments,
        status=Status(row.status),
        created_at=from_ms(row.created_at),
        updated_at=from_ms(row.updated_at),
        interface=row.interface,
        cost=row.cost,
        client_ref=row.client_ref,
        scheduled_at=None if row.scheduled_at is None else from_ms(row.scheduled_at),
        country=row.country,
        connector=row.connector,
        external_id=row.external_id,
        error_code=row.error_code,
        reason=row.reason,
        attempts=row.attempts,
        events=tuple(events),
        quality=row.quality,
        receipt=row.receipt,
        route=row.route,
        upstream_cost=row.upstream_cost,
        valid_until=None if row.valid_until is None else from_ms(row.valid_until),
    )


@dataclass(frozen=True, slots=True)
class MessageFilter:
    status: Status | None = None
    recipient: str | None = None
    sender: str | None = None
    order_id: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    before_id: str | None = None
    """Cursor: only messages older than this id (ids sort by creation time)."""
    client_refs: tuple[str, ...] | None = None
    """Only messages with one of these client references."""


class MessageRepo:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    async def get(self, account_id: str, message_id: str, *, with_events: bool = True) -> Message:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(messages).where(
                        messages.c.id == message_id, messages.c.account_id == account_id
                    )
                )
            ).first()
            if row is None:
                raise NotFound(f"no message {message_id}")
            events: list[StatusEvent] = []
            if with_events:
                e = message_events.c
                ev_rows = await conn.execute(
                    select(e.status, e.at, e.detail, e.connector, e.route)
                    .where(e.message_id == message_id)
                    .order_by(e.id)
                )
                events = [
                    StatusEvent(Status(r.status), from_ms(r.at), r.detail, r.connector, r.route)
                    for r in ev_rows
                ]
        return message_from_row(row, events)

    async def search(self, account_id: str, flt: MessageFilter, *, limit: int) -> list[Message]:
        query: Select[Any] = select(messages).where(messages.c.account_id == account_id)
        if flt.status is not None:
            query = query.where(messages.c.status == flt.status.value)
        if flt.recipient is not None:
            query = query.where(messages.c.recipient == flt.recipient)
        if flt.sender is not None:
            query = query.where(messages.c.sender == flt.sender)
        if flt.order_id is not None:
            query = query.where(messages.c.order_id == flt.order_id)
        if flt.since_ms is not None:
            query = query.where(messages.c.created_at >= flt.since_ms)
        if flt.until_ms is not None:
            query = query.where(messages.c.created_at < flt.until_ms)
        if flt.before_id is not None:
            query = query.where(messages.c.id < flt.before_id)
        if flt.client_refs is not None:
            query = query.where(messages.c.client_ref.in_(flt.client_refs))
        query = query.order_by(messages.c.id.desc()).limit(limit)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [message_from_row(r) for r in rows]

    async def order_messages(self, account_id: str, order_id: str) -> list[Message]:
        async with self._db.read() as conn:
            rows = (
                await conn.execute(
                    select(messages)
                    .where(messages.c.order_id == order_id, messages.c.account_id == account_id)
                    .order_by(messages.c.id)
                )
            ).all()
        return [message_from_row(r) for r in rows]

    async def phones(self, account_id: str, message_ids: Sequence[str]) -> dict[str, str]:
        """The phone of each message that has one: the phone that took it last (a message
        moves to another phone when its first goes quiet), else the phone its client
        named. Messages of other accounts are left out."""
        if not message_ids:
            return {}
        dm, md, m = device_messages.c, message_devices.c, messages.c
        ids = list(message_ids)
        async with self._db.read() as conn:
            taken = await conn.execute(
                select(dm.message_id, dm.device_id)
                .where(dm.account_id == account_id, dm.message_id.in_(ids))
                .order_by(dm.created_at, dm.id)
            )
            named = await conn.execute(
                select(md.message_id, md.device_id)
                .join(messages, m.id == md.message_id)
                .where(m.account_id == account_id, md.message_id.in_(ids))
                .where(md.device_id.is_not(None))
            )
            found: dict[str, str] = {r.message_id: r.device_id for r in named}
            found.update({r.message_id: r.device_id for r in taken})
        return found

    async def cancel(
        self, account_id: str, *, message_id: str | None = None, order_id: str | None = None
    ) -> list[str]:
        """Cancel the cancellable messages of one message or order; return the ids cancelled.

        Raises NotFound if nothing matches, Conflict if it matched but everything had left.
        What the cancelled messages cost is refunded.

        A ``storage.txn`` transaction, unlike the rest of this module: the refund is the
        report path's own step (``credits.refund_failed``), composed into this transaction
        so that a message's refund is decided by one piece of code whichever path ends it.
        """
        now = self._clock()
        if message_id is not None:
            select = _SELECT_FOR_CANCEL_BY_ID
            params: tuple[str, ...] = (account_id, message_id)
        else:
            select = _SELECT_FOR_CANCEL_BY_ORDER
            params = (account_id, order_id or "")

        def txn() -> Txn[list[str]]:
            rows = yield Query(select, params, pg_sql=select + " FOR UPDATE")
            if not rows:
                raise NotFound("no such message" if message_id else "no such order")
            ids = [r["id"] for r in rows if Status(r["status"]) in CANCELLABLE]
            if not ids:
                raise Conflict("already handed to an operator; it can no longer be cancelled")
            yield in_list(
                "UPDATE messages SET status = 'cancelled', next_attempt_at = NULL,"
                " updated_at = ? WHERE status IN ('queued', 'scheduled') AND id IN {in}",
                ids,
                before=(now,),
            )
            yield Many(INSERT_EVENT, [(i, Status.CANCELLED.value, now, None) for i in ids])
            yield from refund_failed(ids, now, "cancelled")
            return ids

        return await self._db.txn(txn, urgent=True)

    async def replace(
        self,
        account_id: str,
        message_id: str,
        *,
        text: str,
        scheduled_at: int | None,
        valid_until: int | None,
        receipt: str | None,
        dedupe_since: int | None = None,
    ) -> None:
        """Store a new text, schedule, validity and receipt request for a message that has
        not been handed to an operator (SMPP replace_sm). Raises NotFound, or Conflict when
        it has left or may have (claimed, partly taken, in doubt) or is final. A schedule in
        the future makes it ``scheduled``; one in the past or none, ``queued``: due at once
        if it was scheduled, else when it was already due. The price stays: the caller keeps
        the number of parts. ``dedupe_since``: the account's duplicate filter, as a submit
        applies it (``storage.admission``): a new text that went to the same recipient since
        then is refused (PolicyDenied, ``duplicate``)."""
        now = self._clock()

        def txn() -> Txn[None]:
            rows = yield Query(_SELECT_FOR_REPLACE, (account_id, message_id), pg_sql=_PG_REPLACE)
            if not rows:
                raise NotFound(f"no message {message_id}")
            row = rows[0]
            if not _replaceable(row):
                raise Conflict("it has been handed to an operator (or may have been)")
            if dedupe_since is not None and text != row["text"]:
                recipient = row["recipient"]
                # The lock a submit's admission takes first (storage.admission): a submit
                # of this text to this recipient commits before this reads, or after.
                yield from lock_balances([account_id], now)
                recent = yield from recent_sends(account_id, [recipient], dedupe_since)
                if (recipient, text) in recent:
                    raise PolicyDenied(
                        REASON_TEXT[Reason.DUPLICATE],
                        reason=Reason.DUPLICATE.value,
                        recipient=recipient,
                    )
            was = Status(row["status"])
            status = Status.SCHEDULED if scheduled_at and scheduled_at > now else Status.QUEUED
            due = scheduled_at if status == Status.SCHEDULED else row["next_attempt_at"]
            if status == Status.QUEUED and was == Status.SCHEDULED:
                due = now
            yield Query(
                "UPDATE messages SET text = ?, status = ?, scheduled_at = ?, next_attempt_at = ?,"
                " valid_until = ?, receipt = ?, updated_at = ? WHERE id = ?",
                (
                    text,
                    status.value,
                    scheduled_at if status == Status.SCHEDULED else None,
                    due,
                    valid_until,
                    receipt,
                    now,
                    message_id,
                ),
            )
            if status != was:
                yield Many(INSERT_EVENT, [(message_id, status.value, now, "replaced")])

        await self._db.txn(txn, urgent=True)


_SELECT_FOR_REPLACE = (
    "SELECT status, claimed_by, handoff_state, error_code, next_attempt_at, recipient, text"
    " FROM messages"
    " WHERE account_id = ? AND id = ?"
)
# PostgreSQL: the row stays locked until the update (a claim skips it meanwhile).
_PG_REPLACE = _SELECT_FOR_REPLACE + " FOR UPDATE"


def _replaceable(row: Any) -> bool:
    """Never handed off: waiting (queued or scheduled), held by no worker, no part taken
    by an operator, not in doubt after an unanswered hand-off."""
    return (
        Status(row["status"]) in CANCELLABLE
        and row["claimed_by"] is None
        and row["handoff_state"] is None
        and row["error_code"] != IN_DOUBT
    )


_SELECT_FOR_CANCEL_BY_ID = "SELECT id, status FROM messages WHERE account_id = ? AND id = ?"
_SELECT_FOR_CANCEL_BY_ORDER = (
    "SELECT id, status FROM messages WHERE account_id = ? AND order_id = ? ORDER BY id"
)
