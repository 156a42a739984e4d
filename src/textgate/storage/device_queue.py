"""What phones have to send: placing messages on devices, pulls, state reports.

A phone's state report and its effect on the textgate message are written in one
transaction (the report moves the message through ``storage.queue.apply_reports``, the same
path every connector's delivery reports take), so the two never disagree. A pull records
when the phone first took each message: from then on the message is the phone's (see
``storage.device_sweep`` for what that rules out).

Written on SQLAlchemy Core, but for the report and the sweep: each runs in one transaction
with steps of the hot-path transactions (``storage.reports.apply_reports``, the refund of
``storage.credits``), which are ``storage.txn`` generators, so they are too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from textgate.core.clock import Clock, from_ms, system_clock, to_ms
from textgate.core.devices import (
    DeviceMessage,
    Outgoing,
    PhoneReport,
    Placement,
    PlacementRules,
    ProcessingState,
    Swept,
    nanoid,
    report_status,
)
from textgate.core.message import DeliveryReport
from textgate.errors import Conflict, ConnectorError, NotFound
from textgate.storage.db import Database
from textgate.storage.device_choice import choose, load_candidates
from textgate.storage.device_sweep import CANCELLED_ON_PHONE, end_messages, sweep
from textgate.storage.devices import WAITING
from textgate.storage.queue import apply_reports
from textgate.storage.tables import device_messages, devices, inbound_messages, message_devices
from textgate.storage.tables import messages as messages_table
from textgate.storage.txn import Many, Txn, in_list

__all__ = ["DeviceQueue"]

P = ProcessingState
# The vendor hands a phone at most 100 messages per pull (spec section 2, GET /message).
PULL_LIMIT = 100

_dm = device_messages.c


class DeviceQueue:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    async def place(
        self,
        connector: str,
        batch: Sequence[Outgoing],
        options: PlacementRules,
        connected: frozenset[str],
    ) -> list[Placement]:
        now = self._clock()
        try:
            async with self._db.write(urgent=False) as conn:
                return await _place(conn, connector, batch, options, connected, now)
        except IntegrityError as exc:
            raise Conflict(f"conflicting write: {exc.orig}") from exc

    async def sweep(
        self, connector: str, options: PlacementRules, connected: frozenset[str]
    ) -> Swept:
        now = self._clock()
        # On Txn: the sweep ends messages in its transaction, with the refund step of the
        # hot paths (storage.device_sweep).
        return await self._db.txn(lambda: sweep(connector, options, connected, now), link=True)

    async def pull(self, device_id: str, *, fifo: bool) -> list[DeviceMessage]:
        """What the phone has to send; the messages it takes for the first time are
        recorded as pulled (they are the phone's from now on)."""
        now = self._clock()
        async with self._db.write(link=True) as conn:
            return await _pull(conn, device_id, fifo, now)

    async def has_pending(self, device_id: str) -> bool:
        async with self._db.read() as conn:
            found = await conn.execute(
                select(literal(1))
                .select_from(device_messages)
                .where(_dm.device_id == device_id, _dm.state.in_(WAITING))
                .limit(1)
            )
            return found.first() is not None

    async def seen_inbound(self, connector: str, recipient: str, external_id: str) -> bool:
        """Whether this inbound message is stored already (a webhook sent twice)."""
        i = inbound_messages.c
        async with self._db.read() as conn:
            found = await conn.execute(
                select(literal(1))
                .select_from(inbound_messages)
                .where(
                    i.recipient == recipient,
                    i.connector == connector,
                    i.external_id == external_id,
                )
                .limit(1)
            )
            return found.first() is not None

    async def report(self, device_id: str, items: Sequence[PhoneReport]) -> int:
        """Apply a phone's state reports; ids it does not own are ignored (as the vendor
        does). Returns how many textgate messages changed."""
        now = self._clock()
        # On Txn: the phone's rows and the messages they move change in one transaction,
        # through the report path's own step (storage.reports) and the refund of the hot
        # paths (storage.credits), both Txn generators.
        return await self._db.txn(lambda: _report(device_id, items, now), link=True)

    async def cancel(self, account_id: str, message_id: str) -> tuple[str, str]:
        """Ask the phone to cancel a message it has not started on: (device id, phone's id)."""
        now = self._clock()
        async with self._db.write(urgent=False) as conn:
            row = (
                await conn.execute(
                    select(_dm.id, _dm.device_id, _dm.state)
                    .where(_dm.account_id == account_id, _dm.message_id == message_id)
                    .order_by(_dm.created_at.desc())
                    .limit(1)
                )
            ).first()
            if row is None:
                raise NotFound("the message was not handed to a phone")
            if row.state not in (P.PENDING, P.CANCELLING):
                raise Conflict(f"the phone already has it ({row.state}); too late to cancel")
            await conn.execute(
                update(device_messages)
                .where(_dm.id == row.id)
                .values(state=P.CANCELLING.value, updated_at=now)
            )
        return row.device_id, row.id

    async def delete_device(self, account_id: str, device_id: str) -> None:
        """Forget a device (its token stops working). The connector's next sweep fails over
        the messages it had not pulled and fails those pinned to it; the ones it pulled
        wait for their validity to end."""
        d = devices.c
        async with self._db.write(urgent=False) as conn:
            gone = await conn.execute(
                delete(devices).where(d.account_id == account_id, d.id == device_id).returning(d.id)
            )
            if gone.first() is None:
                raise NotFound("no such device")


def _to_message(row: Any) -> DeviceMessage:
    return DeviceMessage(
        id=row.id,
        device_id=row.device_id,
        message_id=row.message_id,
        recipient=row.recipient,
        text=row.text,
        state=ProcessingState(row.state),
        created_at=from_ms(row.created_at),
        sim_number=row.sim_number,
        priority=row.priority,
        valid_until=None if row.valid_until is None else from_ms(row.valid_until),
    )


async def _pull(conn: AsyncConnection, device_id: str, fifo: bool, now: int) -> list[DeviceMessage]:
    order = (_dm.created_at.asc(), _dm.id.asc()) if fifo else (_dm.created_at.desc(), _dm.id.desc())
    rows = list(
        await conn.execute(
            select(
                _dm.id,
                _dm.device_id,
                _dm.message_id,
                _dm.recipient,
                _dm.text,
                _dm.state,
                _dm.created_at,
                _dm.sim_number,
                _dm.priority,
                _dm.valid_until,
                _dm.pulled_at,
            )
            .where(_dm.device_id == device_id, _dm.state.in_(WAITING))
            .order_by(_dm.priority.desc(), *order)
            .limit(PULL_LIMIT)
        )
    )
    # A Cancelling message the phone sees for the first time is cancelled, not sent (spec
    # section 2, GET /message), so only Pending ones become the phone's.
    fresh = [r.id for r in rows if r.state == P.PENDING and r.pulled_at is None]
    if fresh:
        # PostgreSQL: lock them, in id order, and look again; one a sweep moved to another
        # phone meanwhile is no longer this phone's and is not handed out. (SQLite renders
        # no FOR UPDATE: the write turn is this transaction's alone.)
        held = await conn.execute(
            select(_dm.id)
            .where(
                _dm.device_id == device_id,
                _dm.state == P.PENDING.value,
                _dm.id.in_(fresh),
            )
            .order_by(_dm.id)
            .with_for_update()
        )
        kept = {r.id for r in held}
        if kept:
            await conn.execute(
                update(device_messages)
                .where(_dm.pulled_at.is_(None), _dm.id.in_(sorted(kept)))
                .values(pulled_at=now)
            )
        gone = set(fresh) - kept
        rows = [r for r in rows if r.id not in gone]
    return [_to_message(r) for r in rows]


async def _place(
    conn: AsyncConnection,
    connector: str,
    batch: Sequence[Outgoing],
    options: PlacementRules,
    connected: frozenset[str],
    now: int,
) -> list[Placement]:
    ids = [s.message_id for s in batch]
    m = messages_table.c
    rows = (
        await conn.execute(
            select(m.id, m.account_id, m.quality, m.valid_until).where(m.id.in_(ids))
        )
    ).all()
    owners = {r.id: (r.account_id, r.quality) for r in rows}
    # A phone is told when to give a message up: the earlier of the connector's validity
    # and the client's own (messages.valid_until).
    asked = {r.id: r.valid_until for r in rows if r.valid_until is not None}
    candidates = await load_candidates(
        conn, sorted({a for a, _ in owners.values()}), connected, now, options
    )
    # The phone and SIM a client chose per message (SMSmobileAPI sIdentifiant and port).
    md = message_devices.c
    picked = await conn.execute(
        select(md.message_id, md.device_id, md.sim_number).where(md.message_id.in_(ids))
    )
    picks = {r.message_id: (r.device_id, r.sim_number) for r in picked}
    valid_until = (
        None if options.validity_seconds is None else now + options.validity_seconds * 1000
    )
    placements: list[Placement] = []
    inserts: list[dict[str, Any]] = []
    for sub in batch:
        owner = owners.get(sub.message_id)
        if owner is None:
            err = ConnectorError("message not found", retryable=False, code="unknown-message")
            placements.append(Placement(sub.message_id, error=err))
            continue
        account_id, quality = owner
        pick_device, pick_sim = picks.get(sub.message_id, (None, None))
        chosen = choose(candidates.get(account_id, []), sub.sender, options, pick_device)
        if isinstance(chosen, ConnectorError):
            placements.append(Placement(sub.message_id, error=chosen))
            continue
        device = chosen.device
        sim = pick_sim if pick_sim is not None else chosen.sim
        device.pending += 1  # the next message of the batch sees this one's load
        ext = nanoid()
        inserts.append(
            {
                "id": ext,
                "device_id": device.id,
                "account_id": account_id,
                "message_id": sub.message_id,
                "connector": connector,
                "recipient": sub.recipient,
                "text": sub.text,
                "sim_number": sim if sim is not None else options.sim_number,
                "priority": options.high_priority if quality == "high" else 0,
                "valid_until": _earlier(valid_until, asked.get(sub.message_id)),
                "state": P.PENDING.value,
                "pinned": int(chosen.pinned),
                "created_at": now,
                "updated_at": now,
            }
        )
        placements.append(Placement(sub.message_id, external_id=ext, device_id=device.id))
    if inserts:
        await conn.execute(insert(device_messages), inserts)
    return placements


def _earlier(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _report(device_id: str, items: Sequence[PhoneReport], now: int) -> Txn[int]:
    known = yield in_list(
        "SELECT id, message_id, connector, recipient, states FROM device_messages"
        " WHERE device_id = ? AND id IN {in}",
        [i.id for i in items],
        before=(device_id,),
    )
    rows = {r["id"]: r for r in known or []}
    updates: list[tuple[Any, ...]] = []
    reports: list[DeliveryReport] = []
    cancelled: list[str] = []
    for item in items:
        row = rows.get(item.id)
        if row is None:
            continue
        state, error = _recipient_state(item, row["recipient"])
        # The vendor stores Pending as Processed (spec section 2, PATCH /message).
        state = P.PROCESSED if state is P.PENDING else state
        history = json.loads(row["states"]) if row["states"] else {}
        for name, at in item.states:
            history.setdefault(P.PROCESSED if name is P.PENDING else name, to_ms(at))
        updates.append((state.value, error, json.dumps(history), now, now, item.id))
        at = from_ms(history.get(state.value, now))
        if state is P.CANCELLED:
            cancelled.append(row["message_id"])
            continue
        status = report_status(state, error)
        if status is not None:
            code = None if error is None else error.removeprefix("Send result: ")[:64]
            reports.append(DeliveryReport(row["connector"], item.id, status, at, code))
    yield Many(
        "UPDATE device_messages SET state = ?, error = ?, states = ?,"
        " reported_at = COALESCE(reported_at, ?), updated_at = ? WHERE id = ?",
        updates,
    )
    # A quick phone may report before the dispatcher recorded the id it was given: such
    # reports are parked and applied when the id is recorded (as for every connector).
    changed = yield from apply_reports(reports, now, park_unmatched=True)
    changed += yield from end_messages(cancelled, CANCELLED_ON_PHONE, now)
    return changed


def _recipient_state(item: PhoneReport, recipient: str) -> tuple[ProcessingState, str | None]:
    """The state of our one recipient: the phone echoes numbers verbatim, but a leading '+'
    may be missing (the vendor adds it back before matching)."""
    wanted = recipient.lstrip("+")
    for r in item.recipients:
        if r.phone_number.lstrip("+") == wanted:
            return r.state, r.error
    if len(item.recipients) == 1:
        return item.recipients[0].state, item.recipients[0].error
    return item.state, None
