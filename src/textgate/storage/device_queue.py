"""What phones have to send: placing messages on devices, pulls, state reports.

A phone's state report and its effect on the textgate message are written in one
transaction (the report moves the message through ``storage.queue.apply_reports``, the same
path every connector's delivery reports take), so the two never disagree. A pull records
when the phone first took each message: from then on the message is the phone's (see
``storage.device_sweep`` for what that rules out).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

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
from textgate.storage.queue import apply_reports
from textgate.storage.txn import Many, Query, Txn, in_list

__all__ = ["DeviceQueue"]

P = ProcessingState
# The vendor hands a phone at most 100 messages per pull (spec section 2, GET /message).
PULL_LIMIT = 100


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
        return await self._db.txn(lambda: _place(connector, batch, options, connected, now))

    async def sweep(
        self, connector: str, options: PlacementRules, connected: frozenset[str]
    ) -> Swept:
        now = self._clock()
        return await self._db.txn(lambda: sweep(connector, options, connected, now), link=True)

    async def pull(self, device_id: str, *, fifo: bool) -> list[DeviceMessage]:
        """What the phone has to send; the messages it takes for the first time are
        recorded as pulled (they are the phone's from now on)."""
        now = self._clock()
        return await self._db.txn(lambda: _pull(device_id, fifo, now), link=True)

    async def has_pending(self, device_id: str) -> bool:
        def txn() -> Txn[bool]:
            rows = yield Query(
                "SELECT 1 FROM device_messages WHERE device_id = ?"
                " AND state IN ('Pending', 'Cancelling') LIMIT 1",
                (device_id,),
            )
            return bool(rows)

        return await self._db.txn(txn)

    async def seen_inbound(self, connector: str, recipient: str, external_id: str) -> bool:
        """Whether this inbound message is stored already (a webhook sent twice)."""

        def txn() -> Txn[bool]:
            rows = yield Query(
                "SELECT 1 FROM inbound_messages WHERE recipient = ? AND connector = ?"
                " AND external_id = ? LIMIT 1",
                (recipient, connector, external_id),
            )
            return bool(rows)

        return await self._db.txn(txn)

    async def report(self, device_id: str, items: Sequence[PhoneReport]) -> int:
        """Apply a phone's state reports; ids it does not own are ignored (as the vendor
        does). Returns how many textgate messages changed."""
        now = self._clock()
        return await self._db.txn(lambda: _report(device_id, items, now), link=True)

    async def cancel(self, account_id: str, message_id: str) -> tuple[str, str]:
        """Ask the phone to cancel a message it has not started on: (device id, phone's id)."""
        now = self._clock()

        def txn() -> Txn[tuple[str, str]]:
            rows = yield Query(
                "SELECT id, device_id, state FROM device_messages WHERE account_id = ?"
                " AND message_id = ? ORDER BY created_at DESC LIMIT 1",
                (account_id, message_id),
            )
            if not rows:
                raise NotFound("the message was not handed to a phone")
            row = rows[0]
            if row["state"] not in (P.PENDING, P.CANCELLING):
                raise Conflict(f"the phone already has it ({row['state']}); too late to cancel")
            yield Query(
                "UPDATE device_messages SET state = ?, updated_at = ? WHERE id = ?",
                (P.CANCELLING.value, now, row["id"]),
            )
            return row["device_id"], row["id"]

        return await self._db.txn(txn)

    async def delete_device(self, account_id: str, device_id: str) -> None:
        """Forget a device (its token stops working). The connector's next sweep fails over
        the messages it had not pulled and fails those pinned to it; the ones it pulled
        wait for their validity to end."""

        def txn() -> Txn[None]:
            rows = yield Query(
                "DELETE FROM devices WHERE account_id = ? AND id = ? RETURNING id",
                (account_id, device_id),
            )
            if not rows:
                raise NotFound("no such device")

        await self._db.txn(txn)


def _to_message(row: Any) -> DeviceMessage:
    return DeviceMessage(
        id=row["id"],
        device_id=row["device_id"],
        message_id=row["message_id"],
        recipient=row["recipient"],
        text=row["text"],
        state=ProcessingState(row["state"]),
        created_at=from_ms(row["created_at"]),
        sim_number=row["sim_number"],
        priority=row["priority"],
        valid_until=None if row["valid_until"] is None else from_ms(row["valid_until"]),
    )


def _pull(device_id: str, fifo: bool, now: int) -> Txn[list[DeviceMessage]]:
    # Only the constant sort direction is interpolated.
    order = "ASC" if fifo else "DESC"
    rows = yield Query(
        "SELECT id, device_id, message_id, recipient, text, state, created_at, sim_number,"  # noqa: S608
        " priority, valid_until, pulled_at FROM device_messages WHERE device_id = ?"
        " AND state IN ('Pending', 'Cancelling')"
        f" ORDER BY priority DESC, created_at {order}, id {order} LIMIT {PULL_LIMIT}",
        (device_id,),
    )
    rows = rows or []
    # A Cancelling message the phone sees for the first time is cancelled, not sent (spec
    # section 2, GET /message), so only Pending ones become the phone's.
    fresh = [r["id"] for r in rows if r["state"] == P.PENDING and r["pulled_at"] is None]
    if fresh:
        # PostgreSQL: lock them, in id order, and look again; one a sweep moved to another
        # phone meanwhile is no longer this phone's and is not handed out.
        lock = in_list(
            "SELECT id FROM device_messages WHERE device_id = ? AND state = 'Pending'"
            " AND id IN {in} ORDER BY id",
            fresh,
            before=(device_id,),
        )
        held = yield dataclasses.replace(lock, pg_sql=f"{lock.pg_sql} FOR UPDATE")
        kept = {r["id"] for r in held or []}
        if kept:
            yield in_list(
                "UPDATE device_messages SET pulled_at = ? WHERE pulled_at IS NULL AND id IN {in}",
                sorted(kept),
                before=(now,),
            )
        gone = set(fresh) - kept
        rows = [r for r in rows if r["id"] not in gone]
    return [_to_message(r) for r in rows]


_INSERT = (
    "INSERT INTO device_messages (id, device_id, account_id, message_id, connector, recipient,"
    " text, sim_number, priority, valid_until, state, pinned, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _place(
    connector: str,
    batch: Sequence[Outgoing],
    options: PlacementRules,
    connected: frozenset[str],
    now: int,
) -> Txn[list[Placement]]:
    rows = yield in_list(
        "SELECT id, account_id, quality FROM messages WHERE id IN {in}",
        [s.message_id for s in batch],
    )
    owners = {r["id"]: (r["account_id"], r["quality"]) for r in rows or []}
    candidates = yield from load_candidates(
        sorted({a for a, _ in owners.values()}), connected, now, options
    )
    # The phone and SIM a client chose per message (SMSmobileAPI sIdentifiant and port).
    picked = yield in_list(
        "SELECT message_id, device_id, sim_number FROM message_devices WHERE message_id IN {in}",
        [s.message_id for s in batch],
    )
    picks = {r["message_id"]: (r["device_id"], r["sim_number"]) for r in picked or []}
    valid_until = (
        None if options.validity_seconds is None else now + options.validity_seconds * 1000
    )
    placements: list[Placement] = []
    inserts: list[tuple[Any, ...]] = []
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
        priority = options.high_priority if quality == "high" else 0
        inserts.append(
            (
                ext,
                device.id,
                account_id,
                sub.message_id,
                connector,
                sub.recipient,
                sub.text,
                sim if sim is not None else options.sim_number,
                priority,
                valid_until,
                P.PENDING.value,
                int(chosen.pinned),
                now,
                now,
            )
        )
        placements.append(Placement(sub.message_id, external_id=ext, device_id=device.id))
    yield Many(_INSERT, inserts)
    return placements


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
