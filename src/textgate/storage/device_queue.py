"""What phones have to send: placing messages on devices, pulls, state reports, fail-over.

A phone's state report and its effect on the textgate message are written in one
transaction (the report moves the message through ``storage.queue.apply_reports``, the same
path every connector's delivery reports take), so the two never disagree.
"""

from __future__ import annotations

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
from textgate.core.message import DeliveryReport, Status
from textgate.errors import Conflict, ConnectorError, NotFound
from textgate.storage.credits import refund_failed
from textgate.storage.db import Database
from textgate.storage.device_choice import Candidate, choose, load_candidates
from textgate.storage.queue import INSERT_EVENT, apply_reports
from textgate.storage.txn import Many, Query, Txn, in_list

__all__ = ["DeviceQueue"]

P = ProcessingState
# The vendor hands a phone at most 100 messages per pull (spec section 2, GET /message).
PULL_LIMIT = 100
OFFLINE = "device-offline"


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
        return await self._db.txn(lambda: _sweep(connector, options, connected, now), link=True)

    async def pull(self, device_id: str, *, fifo: bool) -> list[DeviceMessage]:
        # Only the constant sort direction is interpolated.
        order = "ASC" if fifo else "DESC"
        sql = (
            "SELECT id, device_id, message_id, recipient, text, state, created_at, sim_number,"  # noqa: S608
            " priority, valid_until FROM device_messages WHERE device_id = ?"
            " AND state IN ('Pending', 'Cancelling')"
            f" ORDER BY priority DESC, created_at {order}, id {order} LIMIT {PULL_LIMIT}"
        )

        def txn() -> Txn[list[DeviceMessage]]:
            rows = yield Query(sql, (device_id,))
            return [_to_message(r) for r in rows or []]

        return await self._db.txn(txn)

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
        """Forget a device (its token stops working); its waiting messages fail over."""

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


_INSERT = (
    "INSERT INTO device_messages (id, device_id, account_id, message_id, connector, recipient,"
    " text, sim_number, priority, valid_until, state, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
        device, sim = chosen
        sim = pick_sim if pick_sim is not None else sim
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
                now,
                now,
            )
        )
        placements.append(Placement(sub.message_id, external_id=ext, device_id=device.id))
    yield Many(_INSERT, inserts)
    return placements


def _sweep(
    connector: str, options: PlacementRules, connected: frozenset[str], now: int
) -> Txn[Swept]:
    reports: list[DeliveryReport] = []
    expired = yield Query(
        "SELECT id FROM device_messages WHERE connector = ? AND state = 'Pending'"
        " AND valid_until IS NOT NULL AND valid_until < ?",
        (connector, now),
    )
    for row in expired or []:
        reports.append(DeliveryReport(connector, row["id"], Status.EXPIRED, from_ms(now), "ttl"))
    yield from _close_rows([r["id"] for r in expired or []], P.FAILED, "TTL expired", now)

    offline_before = now - int(options.offline_after_seconds * 1000)
    stale = yield Query(
        "SELECT m.id, m.account_id, m.device_id, m.message_id, m.state FROM device_messages m"
        " LEFT JOIN devices d ON d.id = m.device_id WHERE m.connector = ?"
        " AND m.state IN ('Pending', 'Cancelling') AND (d.id IS NULL OR d.last_seen_at < ?)"
        " ORDER BY m.created_at",
        (connector, offline_before),
    )
    stale = [r for r in stale or [] if r["device_id"] not in connected]
    # A cancellation the phone never picked up: the phone does not have the message.
    cancelling = [r for r in stale if r["state"] == P.CANCELLING]
    yield from _close_rows([r["id"] for r in cancelling], P.CANCELLED, None, now)
    yield from _cancel_messages([r["message_id"] for r in cancelling], now)
    waiting = [r for r in stale if r["state"] == P.PENDING]
    woken: set[str] = set()
    failed: list[str] = []
    if options.failover == "fail":
        failed = [r["id"] for r in waiting]
    elif waiting:
        candidates = yield from load_candidates(
            sorted({r["account_id"] for r in waiting}), connected, now, options
        )
        moves: list[tuple[Any, ...]] = []
        for row in waiting:
            online = [c for c in candidates.get(row["account_id"], []) if c.online]
            if not online:
                continue  # nobody to take it: it waits for a device to come back
            target = min(online, key=Candidate.load_key)
            target.pending += 1
            woken.add(target.id)
            moves.append((target.id, now, row["id"]))
        yield Many("UPDATE device_messages SET device_id = ?, updated_at = ? WHERE id = ?", moves)
    for ext in failed:
        reports.append(DeliveryReport(connector, ext, Status.FAILED, from_ms(now), OFFLINE))
    yield from _close_rows(failed, P.FAILED, "device offline", now)
    yield from apply_reports(reports, now, park_unmatched=False)
    return Swept(frozenset(woken), len(failed))


def _close_rows(
    ids: Sequence[str], state: ProcessingState, error: str | None, now: int
) -> Txn[None]:
    yield Many(
        "UPDATE device_messages SET state = ?, error = ?, reported_at = ?, updated_at = ?"
        " WHERE id = ?",
        [(state.value, error, now, now, i) for i in ids],
    )


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
    changed += yield from _cancel_messages(cancelled, now)
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


_FINAL = "('delivered', 'undelivered', 'failed', 'expired', 'cancelled', 'rejected')"


def _cancel_messages(message_ids: Sequence[str], now: int) -> Txn[int]:
    if not message_ids:
        return 0
    rows = yield in_list(
        f"SELECT id FROM messages WHERE status NOT IN {_FINAL} AND id IN {{in}}",  # noqa: S608
        list(message_ids),
    )
    ids = [r["id"] for r in rows or []]
    if not ids:
        return 0
    yield in_list(
        "UPDATE messages SET status = 'cancelled', next_attempt_at = NULL,"
        " report_check_at = NULL, updated_at = ? WHERE id IN {in}",
        ids,
        before=(now,),
    )
    yield Many(
        INSERT_EVENT, [(i, Status.CANCELLED.value, now, "cancelled on the phone") for i in ids]
    )
    yield from refund_failed(ids, now, "cancelled")
    return len(ids)
