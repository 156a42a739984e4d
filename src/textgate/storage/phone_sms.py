"""Reading what the account's phones sent and received (core.phone_sms), deleting received
SMS in bulk, and the bookkeeping of resent messages."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.devices import ProcessingState
from textgate.core.message import Status
from textgate.core.phone_sms import (
    Conversation,
    ConversationLine,
    Origin,
    PhoneSent,
    ReceivedSms,
    SentSms,
    device_of_external_id,
)
from textgate.storage.db import Database
from textgate.storage.tables import (
    device_messages,
    inbound_messages,
    message_devices,
    message_resends,
    messages,
)

__all__ = ["PhoneSmsRepo", "ResendSource", "SentFilter"]

# The phone's states that mean the SMS left it (SMSGate app, spec section 4).
_SENT_STATES = ("Sent", "Delivered")
# Scanning more than this many rows for the phones' sent log is refused work, not a limit the
# client sees: seven days of one account's phones stay well below it.
_SCAN_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class SentFilter:
    guid: str | None = None
    before_ms: int | None = None
    before_id: str | None = None
    api_errors: bool = False
    phone_errors: bool = False
    keyword: str | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class ResendSource:
    """What to send again: the message the client knows (``root_id``) and its latest try."""

    root_id: str
    latest_id: str
    latest_status: Status
    attempts: int
    recipient: str
    text: str
    sender: str | None
    device_id: str | None
    sim_number: int | None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _phone_sent_ms(states: str | None) -> int | None:
    history = json.loads(states) if states else {}
    for name in _SENT_STATES:
        if name in history:
            return int(history[name])
    return None


def _sent(r: Any) -> SentSms:
    state = r["phone_state"]
    sent_ms = _phone_sent_ms(r["states"]) if state in _SENT_STATES else None
    status = Status(r["status"])
    phone_error = r["phone_error"] if state == "Failed" else None
    api_error = None
    if r["device_id"] is None and status in (Status.REJECTED, Status.FAILED):
        api_error = r["reason"] or r["error_code"] or status.value
    return SentSms(
        id=r["id"],
        recipient=r["recipient"],
        text=r["text"],
        status=status,
        created_at=from_ms(r["created_at"]),
        device_id=r["device_id"] or r["chosen_device"],
        sim_number=r["sim_number"] if r["sim_number"] is not None else r["chosen_sim"],
        phone_sent_at=None if sent_ms is None else from_ms(sent_ms),
        phone_error=phone_error or None,
        api_error=api_error,
    )


_m = messages.c
_in = inbound_messages.c
# Messages the gateway refused never left it: they are in no conversation.
_NOT_REFUSED = _m.status != Status.REJECTED.value


def _latest_on_phone(column: str) -> ScalarSelect[Any]:
    """A column of the phone's row of the message of the enclosing query (on ``messages``):
    the latest row, when the message went to several phones (it failed over)."""
    x = device_messages.alias("x")
    return (
        select(x.c[column])
        .where(x.c.message_id == _m.id)
        .order_by(x.c.created_at.desc())
        .limit(1)
        .correlate(messages)
        .scalar_subquery()
    )


class PhoneSmsRepo:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    async def sent(self, account_id: str, flt: SentFilter) -> list[SentSms]:
        """Newest first."""
        md = message_devices.c
        dm = device_messages.alias("dm")
        where: list[ColumnElement[bool]] = [_m.account_id == account_id]
        if flt.guid is not None:
            # A resent message is listed under the id the client knows as well.
            resends = select(message_resends.c.message_id).where(
                message_resends.c.original_id == flt.guid
            )
            where.append((_m.id == flt.guid) | _m.id.in_(resends))
        if flt.before_ms is not None:
            where.append(_m.created_at < flt.before_ms)
        if flt.before_id is not None:
            where.append(_m.id < flt.before_id)
        if flt.api_errors:
            refused = (Status.REJECTED.value, Status.FAILED.value)
            where += [_m.status.in_(refused), dm.c.id.is_(None)]
        if flt.phone_errors:
            where.append(dm.c.state == ProcessingState.FAILED.value)
        if flt.keyword:
            pattern = _like(flt.keyword)
            where.append(
                _m.recipient.like(pattern, escape="\\") | _m.text.like(pattern, escape="\\")
            )
        query = (
            select(
                *messages.c["id", "recipient", "text", "status", "created_at", "reason"],
                _m.error_code,
                md.device_id.label("chosen_device"),
                md.sim_number.label("chosen_sim"),
                dm.c.device_id,
                dm.c.sim_number,
                dm.c.state.label("phone_state"),
                dm.c.error.label("phone_error"),
                dm.c.states,
            )
            .select_from(
                messages.outerjoin(message_devices, md.message_id == _m.id).outerjoin(
                    dm, dm.c.id == _latest_on_phone("id")
                )
            )
            .where(*where)
            .order_by(_m.id.desc())
            .limit(flt.limit)
        )
        async with self._db.read() as conn:
            rows = await conn.execute(query)
            return [_sent(r) for r in rows.mappings()]

    async def phone_sent(self, account_id: str, since_ms: int) -> list[PhoneSent]:
        """What the account's phones report having sent since ``since_ms`` (by report time,
        with a day's margin for phones whose clocks run behind)."""
        dm = device_messages.c
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(dm.device_id, dm.recipient, dm.text, dm.states, dm.reported_at)
                .where(
                    dm.account_id == account_id,
                    dm.state.in_(_SENT_STATES),
                    dm.reported_at >= since_ms - 86_400_000,
                )
                .order_by(dm.reported_at.desc())
                .limit(_SCAN_LIMIT)
            )
            return [
                PhoneSent(
                    r.device_id,
                    r.recipient,
                    r.text,
                    _phone_sent_ms(r.states) or int(r.reported_at),
                    from_ms(r.reported_at),
                )
                for r in rows
            ]

    async def received(
        self,
        account_id: str,
        *,
        device_id: str | None,
        after_ms: int | None,
        unread: bool,
        limit: int,
    ) -> list[ReceivedSms]:
        """Newest first."""
        where: list[ColumnElement[bool]] = [_in.account_id == account_id]
        if device_id is not None:
            # The android connector's external ids are "<device id>:<phone's id>".
            prefix = f"{device_id}:"
            where += [
                _in.connector == "android",
                func.substr(_in.external_id, 1, len(prefix)) == prefix,
            ]
        if after_ms is not None:
            where.append(_in.received_at > after_ms)
        if unread:
            where.append(_in.read_at.is_(None))
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(
                    *inbound_messages.c["id", "connector", "external_id", "sender", "text"],
                    *inbound_messages.c["received_at", "created_at", "alias", "read_at"],
                )
                .where(*where)
                .order_by(_in.id.desc())
                .limit(limit)
            )
            return [_received(r) for r in rows.mappings()]

    async def delete_received(
        self,
        account_id: str,
        *,
        inbound_id: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> int:
        """Delete received SMS by id or by reception time (``until_ms`` exclusive)."""
        where: list[ColumnElement[bool]] = [_in.account_id == account_id]
        if inbound_id is not None:
            where.append(_in.id == inbound_id)
        if since_ms is not None:
            where.append(_in.received_at >= since_ms)
        if until_ms is not None:
            where.append(_in.received_at < until_ms)
        async with self._db.write(urgent=True) as conn:
            gone = await conn.execute(delete(inbound_messages).where(*where).returning(_in.id))
            return len(gone.all())

    async def conversations(
        self,
        account_id: str,
        *,
        origin: Origin,
        number: str | None,
        since_ms: int | None,
        until_ms: int | None,
        newest_first: bool,
        limit: int,
    ) -> list[Conversation]:
        def in_range(at: ColumnElement[int]) -> list[ColumnElement[bool]]:
            bounds: list[ColumnElement[bool]] = []
            if since_ms is not None:
                bounds.append(at >= since_ms)
            if until_ms is not None:
                bounds.append(at < until_ms)
            return bounds

        if origin == "received":
            remote, at = _in.sender, func.max(_in.received_at)
            where = [_in.account_id == account_id, *in_range(_in.received_at)]
        else:
            remote, at = _m.recipient, func.max(_m.created_at)
            where = [_m.account_id == account_id, _NOT_REFUSED, *in_range(_m.created_at)]
        if number is not None:
            where.append(remote == number)
        latest = at.label("at")
        numbers = (
            select(remote.label("number"), latest)
            .where(*where)
            .group_by(remote)
            .order_by(latest.desc() if newest_first else latest.asc(), remote)
            .limit(limit)
        )
        result = []
        async with self._db.read() as conn:
            for num in (await conn.execute(numbers)).scalars().all():
                ins = (
                    await conn.execute(
                        select(*inbound_messages.c["id", "connector", "external_id", "text"])
                        .add_columns(_in.received_at.label("at"), _in.alias)
                        .where(_in.account_id == account_id, _in.sender == num)
                        .where(*in_range(_in.received_at))
                    )
                ).all()
                outs = await conn.execute(
                    select(_m.id, _m.text, _m.created_at.label("at"))
                    .add_columns(_latest_on_phone("device_id").label("device_id"))
                    .where(_m.account_id == account_id, _m.recipient == num, _NOT_REFUSED)
                    .where(*in_range(_m.created_at))
                )
                lines = [
                    ConversationLine(
                        "incoming",
                        r.id,
                        r.text,
                        from_ms(r.at),
                        device_of_external_id(r.connector, r.external_id),
                    )
                    for r in ins
                ] + [
                    ConversationLine("outgoing", r.id, r.text, from_ms(r.at), r.device_id)
                    for r in outs
                ]
                lines.sort(key=lambda line: (line.at, line.id))
                aliases = [r.alias for r in sorted(ins, key=lambda r: r.at) if r.alias]
                result.append(Conversation(num, aliases[-1] if aliases else None, tuple(lines)))
        return result

    async def resend_source(self, account_id: str, guid: str) -> ResendSource | None:
        r, md = message_resends.c, message_devices.c
        async with self._db.read() as conn:
            original = (
                await conn.execute(select(r.original_id).where(r.message_id == guid))
            ).scalar_one_or_none()
            root_id = guid if original is None else original
            root = (
                await conn.execute(
                    select(
                        *messages.c["id", "recipient", "text", "sender", "status"],
                        md.device_id,
                        md.sim_number,
                    )
                    .select_from(messages.outerjoin(message_devices, md.message_id == _m.id))
                    .where(_m.account_id == account_id, _m.id == root_id)
                )
            ).first()
            if root is None:
                return None
            latest = (
                await conn.execute(
                    select(r.message_id, r.attempt, _m.status)
                    .select_from(message_resends.join(messages, _m.id == r.message_id))
                    .where(r.original_id == root_id)
                    .order_by(r.attempt.desc())
                    .limit(1)
                )
            ).first()
        return ResendSource(
            root_id=root_id,
            latest_id=root_id if latest is None else latest.message_id,
            latest_status=Status(root.status if latest is None else latest.status),
            attempts=0 if latest is None else int(latest.attempt),
            recipient=root.recipient,
            text=root.text,
            sender=root.sender,
            device_id=root.device_id,
            sim_number=root.sim_number,
        )

    async def record_resends(self, rows: Sequence[tuple[str, str, int]]) -> None:
        """(new message id, original id, attempt) rows; one recorded already is kept."""
        if not rows:
            return
        now = self._clock()
        insert = sqlite_insert if self._db.is_sqlite else pg_insert
        async with self._db.write(urgent=True) as conn:
            await conn.execute(
                insert(message_resends).on_conflict_do_nothing(),
                [
                    {"message_id": new_id, "original_id": root_id, "attempt": n, "created_at": now}
                    for new_id, root_id, n in rows
                ],
            )


def _received(r: Any) -> ReceivedSms:
    return ReceivedSms(
        id=r["id"],
        device_id=device_of_external_id(r["connector"], r["external_id"]),
        sender=r["sender"],
        text=r["text"],
        received_at=from_ms(r["received_at"]),
        stored_at=from_ms(r["created_at"]),
        alias=r["alias"],
        read=r["read_at"] is not None,
    )
