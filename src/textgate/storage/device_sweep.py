"""The android connector's periodic sweep: validity, phones gone quiet, phones removed.

What may happen to a message waiting on a phone follows from whether the phone has it
(DESIGN "Delivery contract"):

- *Pulled* (the phone took it with GET /message): it may have gone out. It stays with that
  phone until the phone reports, or until its validity ends; then it is ``expired`` ("phone
  did not report within validity"), without a refund. It never moves to another phone.
- *Pinned* (the client, the sender or the ``device`` option chose the phone): it waits for
  that phone until its validity ends. If the phone is deleted it is ``failed`` ("the chosen
  phone was removed") and refunded: it never left.
- Otherwise, on a phone offline (or deleted) before pulling it, it fails over: ``reroute``
  moves it to the least busy online phone of the account, ``fail`` fails it (refunded).

On PostgreSQL the sweep locks the rows it looks at (skipping the ones a pull holds right
now), and a pull locks the rows it hands out: a message is either pulled by its phone or
moved by the sweep, never both.

The sweep, and ``end_messages`` which the phones' reports run too, are ``storage.txn``
transactions while the rest of the phone modules are on SQLAlchemy Core: ending a message
refunds it in the same transaction with the refund step of the hot paths
(``storage.credits.refund_failed``, shared with recording outcomes and applying reports),
a Txn generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textgate.core.devices import PlacementRules, ProcessingState, Swept
from textgate.core.message import Status
from textgate.storage.credits import refund_failed
from textgate.storage.device_choice import REMOVED, Candidate, candidates
from textgate.storage.queue import INSERT_EVENT
from textgate.storage.txn import Many, Query, Txn, in_list

__all__ = ["CANCELLED_ON_PHONE", "Ending", "close_rows", "end_messages", "sweep"]

P = ProcessingState


@dataclass(frozen=True, slots=True)
class Ending:
    """How the sweep ends a message: its status, error code and the reason shown with it."""

    status: Status
    code: str | None
    """None: the message keeps the error code it has."""
    reason: str
    refund: bool
    """Refunded: the message never left (the phone never took it)."""
    phone_error: str
    """What the phone's row says (its ``error``)."""


NOT_REPORTED = Ending(
    Status.EXPIRED,
    "no-report",
    "phone did not report within validity",
    refund=False,
    phone_error="no report within validity",
)
NOT_PULLED = Ending(
    Status.EXPIRED,
    "ttl",
    "no phone took it within validity",
    refund=False,
    phone_error="TTL expired",
)
PHONE_REMOVED = Ending(
    Status.FAILED, "device-removed", REMOVED, refund=True, phone_error="device removed"
)
FAILED_OVER = Ending(
    Status.FAILED,
    "device-offline",
    "the phone went offline before taking it (failover = fail)",
    refund=True,
    phone_error="device offline",
)
CANCELLED = Ending(Status.CANCELLED, None, "cancelled before the phone took it", True, "cancelled")
CANCELLED_ON_PHONE = Ending(Status.CANCELLED, None, "cancelled on the phone", True, "cancelled")

_SELECT = (
    "SELECT m.id, m.account_id, m.device_id, m.message_id, m.state, m.pulled_at, m.pinned,"
    " m.valid_until, m.created_at, d.id AS present, d.last_seen_at FROM device_messages m"
    " LEFT JOIN devices d ON d.id = m.device_id WHERE m.connector = ?"
    " AND m.state IN ('Pending', 'Cancelling')"
    " AND ((m.valid_until IS NOT NULL AND m.valid_until < ?) OR d.id IS NULL"
    " OR d.last_seen_at < ?)"
)


def sweep(
    connector: str, options: PlacementRules, connected: frozenset[str], now: int
) -> Txn[Swept]:
    offline_before = now - int(options.offline_after_seconds * 1000)
    rows = yield Query(
        _SELECT + " ORDER BY m.created_at, m.id",
        (connector, now, offline_before),
        # A row a pull holds is being handed out: leave it to the next sweep.
        pg_sql=_SELECT + " ORDER BY m.created_at, m.id FOR UPDATE OF m SKIP LOCKED",
    )
    endings: dict[Ending, list[Any]] = {}
    waiting: list[Any] = []
    for row in rows or []:
        ending = _ending(row, connected, offline_before, now)
        if ending is not None:
            endings.setdefault(ending, []).append(row)
        elif _fails_over(row, connected, offline_before):
            waiting.append(row)
    if options.failover == "fail":
        endings.setdefault(FAILED_OVER, []).extend(waiting)
        waiting = []
    woken = yield from _reroute(waiting, options, connected, now)
    failed = expired = 0
    for ending, ended in endings.items():
        state = P.CANCELLED if ending.status is Status.CANCELLED else P.FAILED
        yield from close_rows([r["id"] for r in ended], state, ending.phone_error, now)
        yield from end_messages([r["message_id"] for r in ended], ending, now)
        failed += len(ended) if ending.status is Status.FAILED else 0
        expired += len(ended) if ending.status is Status.EXPIRED else 0
    return Swept(frozenset(woken), failed, expired)


def _ending(row: Any, connected: frozenset[str], offline_before: int, now: int) -> Ending | None:
    """How this row ends now, or None if it goes on waiting (or fails over)."""
    pulled = row["pulled_at"] is not None
    if row["valid_until"] is not None and row["valid_until"] < now:
        if pulled:
            return NOT_REPORTED
        return CANCELLED if row["state"] == P.CANCELLING else NOT_PULLED
    if pulled or not _offline(row, connected, offline_before):
        return None
    if row["state"] == P.CANCELLING:
        # A cancellation the phone never picked up: the phone does not have the message.
        return CANCELLED
    if row["pinned"] and row["present"] is None:
        return PHONE_REMOVED
    return None


def _offline(row: Any, connected: frozenset[str], offline_before: int) -> bool:
    if row["device_id"] in connected:
        return False
    return row["present"] is None or row["last_seen_at"] < offline_before


def _fails_over(row: Any, connected: frozenset[str], offline_before: int) -> bool:
    return (
        row["state"] == P.PENDING
        and row["pulled_at"] is None
        and not row["pinned"]
        and _offline(row, connected, offline_before)
    )


def _reroute(
    rows: Sequence[Any], options: PlacementRules, connected: frozenset[str], now: int
) -> Txn[set[str]]:
    """Move never-pulled messages of offline phones to the least busy online phone of their
    account; with none online they wait where they are. Returns the phones to wake."""
    if not rows:
        return set()
    # ``device_choice.load_candidates``, written for this Txn transaction.
    found = yield in_list(
        "SELECT d.id, d.account_id, d.name, d.label, d.phone_number, d.sim_cards,"
        " d.last_seen_at, (SELECT COUNT(*) FROM device_messages m WHERE m.device_id = d.id"
        " AND m.state IN ('Pending', 'Cancelling')) AS pending"
        " FROM devices d WHERE d.account_id IN {in} ORDER BY d.created_at, d.id",
        sorted({r["account_id"] for r in rows}),
    )
    by_account = candidates(found or [], connected, now, options)
    woken: set[str] = set()
    moves: list[tuple[Any, ...]] = []
    for row in rows:
        online = [c for c in by_account.get(row["account_id"], []) if c.online]
        if not online:
            continue
        target = min(online, key=Candidate.load_key)
        target.pending += 1
        woken.add(target.id)
        # The row is locked (PostgreSQL) or the writer is ours (SQLite); the condition
        # repeats the rule that only a never-pulled message moves.
        moves.append((target.id, now, row["id"]))
    yield Many(
        "UPDATE device_messages SET device_id = ?, updated_at = ? WHERE id = ?"
        " AND pulled_at IS NULL",
        moves,
    )
    return woken


def close_rows(
    ids: Sequence[str], state: ProcessingState, error: str | None, now: int
) -> Txn[None]:
    """Take these rows off their phone's queue (they are no longer offered)."""
    yield Many(
        "UPDATE device_messages SET state = ?, error = ?, reported_at = ?, updated_at = ?"
        " WHERE id = ?",
        [(state.value, error, now, now, i) for i in ids],
    )


_FINAL = "('delivered', 'undelivered', 'failed', 'expired', 'cancelled', 'rejected')"


def end_messages(message_ids: Sequence[str], ending: Ending, now: int) -> Txn[int]:
    """Give these messages their final status (those not final already), with the reason
    in the message and its history; refund them if they never left."""
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
        "UPDATE messages SET status = ?, error_code = COALESCE(?, error_code), reason = ?,"
        " next_attempt_at = NULL,"
        " report_check_at = NULL, updated_at = ? WHERE id IN {in}",
        ids,
        before=(ending.status.value, ending.code, ending.reason, now),
    )
    yield Many(INSERT_EVENT, [(i, ending.status.value, now, ending.reason) for i in ids])
    if ending.refund:
        yield from refund_failed(ids, now, ending.code or ending.status.value)
    return len(ids)
