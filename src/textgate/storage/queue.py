"""The dispatch queue: claiming due messages and recording what connectors said.

A message wants the dispatcher while ``next_attempt_at`` is set: its due time while queued
or scheduled, its retry time after a retryable error, and its lease expiry while a worker
holds it (``sending``). A worker that dies leaves leases that simply fall due again, so its
claims are recovered without any coordinator. On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets
many workers claim side by side without ever taking the same row.

These are the hottest statements of the gateway, so they are plain SQL run through
``storage.txn`` (one thread hop per transaction on SQLite).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textgate.core.clock import from_ms, to_ms
from textgate.core.message import FINAL, DeliveryReport, Status, may_follow
from textgate.storage.credits import refund_failed
from textgate.storage.db import Database
from textgate.storage.txn import Many, Query, Txn, in_list

__all__ = ["Claim", "DispatchQueue", "Failure", "Retry", "Sent", "apply_reports"]

INSERT_EVENT = "INSERT INTO message_events (message_id, status, at, detail) VALUES (?, ?, ?, ?)"
# How long to wait before asking again about a message still without a final report.
RECHECK_MS = 3_600_000

_SENDING = Status.SENDING.value
# Outcome updates are fenced by (claimed_by, attempts): see DispatchQueue.record.
_RECORD_SENT = (
    "UPDATE messages SET status = 'sent', connector = ?, external_id = ?, report_check_at = ?,"
    " next_attempt_at = NULL, claimed_by = NULL, updated_at = ?"
    " WHERE id = ? AND claimed_by = ? AND attempts = ? AND status = 'sending'"
)
_RECORD_RETRY = (
    "UPDATE messages SET status = 'queued', next_attempt_at = ?, error_code = ?, reason = ?,"
    " claimed_by = NULL, updated_at = ?"
    " WHERE id = ? AND claimed_by = ? AND attempts = ? AND status = 'sending'"
)
_RECORD_FAILURE = (
    "UPDATE messages SET status = 'failed', next_attempt_at = NULL, connector = ?,"
    " error_code = ?, reason = ?, claimed_by = NULL, updated_at = ?"
    " WHERE id = ? AND claimed_by = ? AND attempts = ? AND status = 'sending'"
)


@dataclass(frozen=True, slots=True)
class Claim:
    id: str
    account_id: str
    recipient: str
    sender: str | None
    text: str
    encoding: str
    segments: int
    attempts: int
    """Attempts including this one; also the fencing token of this claim."""
    recovered: bool
    """The previous holder's lease expired (it crashed or hung)."""
    quality: str | None = None
    """Quality class the client asked for (routing picks the connector by it)."""


@dataclass(frozen=True, slots=True)
class Sent:
    claim: Claim
    connector: str
    external_id: str
    report_check_at: int | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    claim: Claim
    at: int
    error_code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Failure:
    claim: Claim
    error_code: str
    reason: str
    connector: str | None = None


class DispatchQueue:
    def __init__(self, db: Database, worker_id: str) -> None:
        self._db = db
        self.worker_id = worker_id

    async def claim(self, *, now: int, lease_ms: int, limit: int) -> list[Claim]:
        return await self._db.txn(lambda: self._claim(now, lease_ms, limit))

    def _claim(self, now: int, lease_ms: int, limit: int) -> Txn[list[Claim]]:
        select = (
            "SELECT id, account_id, recipient, sender, text, encoding, segments, attempts,"
            " status, quality FROM messages WHERE next_attempt_at <= ?"
            " ORDER BY next_attempt_at LIMIT ?"
        )
        rows = yield Query(select, (now, limit), pg_sql=select + " FOR UPDATE SKIP LOCKED")
        if not rows:
            return []
        claims = [
            Claim(
                r["id"],
                r["account_id"],
                r["recipient"],
                r["sender"],
                r["text"],
                r["encoding"],
                r["segments"],
                r["attempts"] + 1,
                r["status"] == _SENDING,
                r["quality"],
            )
            for r in rows
        ]
        yield in_list(
            "UPDATE messages SET status = ?, next_attempt_at = ?, attempts = attempts + 1,"
            " claimed_by = ?, updated_at = ? WHERE id IN {in}",
            [c.id for c in claims],
            before=(_SENDING, now + lease_ms, self.worker_id, now),
        )
        yield Many(
            INSERT_EVENT,
            [
                (c.id, _SENDING, now, "recovered after lease expiry" if c.recovered else None)
                for c in claims
            ],
        )
        return claims

    async def renew(self, claims: Sequence[Claim], *, now: int, lease_ms: int) -> None:
        """Extend the leases of claims still being worked on (a slow operator link)."""
        if claims:
            await self._db.txn(lambda: self._renew([c.id for c in claims], now + lease_ms))

    def _renew(self, ids: list[str], until: int) -> Txn[None]:
        yield in_list(
            "UPDATE messages SET next_attempt_at = ? WHERE claimed_by = ? AND status = ?"
            " AND id IN {in}",
            ids,
            before=(until, self.worker_id, _SENDING),
        )

    async def record(
        self,
        *,
        now: int,
        sent: Sequence[Sent] = (),
        retries: Sequence[Retry] = (),
        failures: Sequence[Failure] = (),
    ) -> None:
        """Record one batch's outcomes in one transaction.

        Updates are fenced by (claimed_by, attempts): a worker whose lease was taken over
        cannot overwrite the newer holder's result.
        """
        await self._db.txn(lambda: self._record(now, sent, retries, failures))

    def _record(
        self, now: int, sent: Sequence[Sent], retries: Sequence[Retry], failures: Sequence[Failure]
    ) -> Txn[None]:
        me = self.worker_id
        if sent:
            # Before the ids become visible: see lock_report_ids.
            yield lock_report_ids([(s.connector, s.external_id) for s in sent])
        yield Many(
            _RECORD_SENT,
            [
                (
                    s.connector,
                    s.external_id,
                    s.report_check_at,
                    now,
                    s.claim.id,
                    me,
                    s.claim.attempts,
                )
                for s in sent
            ],
        )
        yield Many(
            _RECORD_RETRY,
            [
                (r.at, r.error_code, r.reason, now, r.claim.id, me, r.claim.attempts)
                for r in retries
            ],
        )
        yield Many(
            _RECORD_FAILURE,
            [
                (f.connector, f.error_code, f.reason, now, f.claim.id, me, f.claim.attempts)
                for f in failures
            ],
        )
        events: list[tuple[Any, ...]] = [(s.claim.id, "sent", now, None) for s in sent]
        events += [
            (r.claim.id, "queued", now, f"retry {r.claim.attempts + 1}: {r.reason}")
            for r in retries
        ]
        events += [(f.claim.id, "failed", now, f.reason) for f in failures]
        yield Many(INSERT_EVENT, events)
        # Failed before any operator accepted it: the charge goes back (once; see credits).
        yield from refund_failed(
            [f.claim.id for f in failures],
            now,
            "not sent: " + (failures[0].error_code if failures else ""),
        )
        if sent:
            yield from _apply_pending(sent, now)

    async def apply_reports(self, reports: Sequence[DeliveryReport], now: int) -> int:
        """Apply delivery reports; park the ones whose message is not known yet."""
        # The operator's link waits for this commit (see storage.writelock).
        return await self._db.txn(
            lambda: apply_reports(reports, now, park_unmatched=True), link=True
        )

    async def due_report_checks(
        self, *, now: int, limit: int, recheck_ms: int
    ) -> list[tuple[str, str]]:
        """(connector, external id) of messages whose report is overdue; pushes the next check."""
        return await self._db.txn(lambda: self._due_checks(now, limit, recheck_ms))

    def _due_checks(self, now: int, limit: int, recheck_ms: int) -> Txn[list[tuple[str, str]]]:
        select = (
            "SELECT id, connector, external_id FROM messages WHERE report_check_at <= ?"
            " ORDER BY report_check_at LIMIT ?"
        )
        rows = yield Query(select, (now, limit), pg_sql=select + " FOR UPDATE SKIP LOCKED")
        if not rows:
            return []
        yield in_list(
            "UPDATE messages SET report_check_at = ? WHERE id IN {in}",
            [r["id"] for r in rows],
            before=(now + recheck_ms,),
        )
        return [
            (r["connector"], r["external_id"]) for r in rows if r["connector"] and r["external_id"]
        ]


def _apply_pending(sent: Sequence[Sent], now: int) -> Txn[None]:
    """Reports that arrived before their message's external id was recorded."""
    by_connector: dict[str, list[str]] = {}
    for s in sent:
        by_connector.setdefault(s.connector, []).append(s.external_id)
    for connector, ext_ids in by_connector.items():
        rows = yield in_list(
            "SELECT id, external_id, status, at, error_code FROM pending_reports"
            " WHERE connector = ? AND external_id IN {in} ORDER BY id",
            ext_ids,
            before=(connector,),
        )
        if not rows:
            continue
        reports = [
            DeliveryReport(
                connector, r["external_id"], Status(r["status"]), from_ms(r["at"]), r["error_code"]
            )
            for r in rows
        ]
        yield from apply_reports(reports, now, park_unmatched=False)
        yield in_list("DELETE FROM pending_reports WHERE id IN {in}", [r["id"] for r in rows])


def lock_report_ids(keys: Sequence[tuple[str, str]]) -> Query:
    """PostgreSQL: transaction-scoped advisory locks on (connector, external id) pairs.

    Recording a message's external id and parking a report that names an id not recorded
    yet must not interleave: under READ COMMITTED each would miss the other's uncommitted
    row and the report would stay parked for good. Both take these locks first (sorted,
    so two transactions never wait on each other in a cycle). SQLite has one writer, so
    transactions never interleave there and the statement is a no-op.
    """
    ids = sorted(
        {
            int.from_bytes(
                hashlib.blake2b(f"{c}\x00{x}".encode(), digest_size=8).digest(),
                "big",
                signed=True,
            )
            for c, x in keys
        }
    )
    return Query(
        "SELECT 1",
        pg_sql="SELECT pg_advisory_xact_lock(k) FROM unnest(?::bigint[]) AS k",
        pg_params=(ids,),
    )


def _current(keys: Sequence[tuple[str, str]]) -> Txn[dict[tuple[str, str], tuple[str, Status]]]:
    """(connector, external id) -> (message id, status) of the messages these ids name."""
    by_connector: dict[str, list[str]] = {}
    for connector, external_id in keys:
        by_connector.setdefault(connector, []).append(external_id)
    current: dict[tuple[str, str], tuple[str, Status]] = {}
    for connector, ext_ids in by_connector.items():
        rows = yield in_list(
            "SELECT id, status, external_id FROM messages"
            " WHERE connector = ? AND external_id IN {in}",
            ext_ids,
            before=(connector,),
        )
        for r in rows or ():
            current[(connector, r["external_id"])] = (r["id"], Status(r["status"]))
    return current


def apply_reports(reports: Sequence[DeliveryReport], now: int, *, park_unmatched: bool) -> Txn[int]:
    """Move messages forward by their reports (never backwards; see ``core.message``)."""
    keys = list(dict.fromkeys((r.connector, r.external_id) for r in reports))
    current = yield from _current(keys)
    missing = [k for k in keys if k not in current]
    if missing and park_unmatched:
        # Serialise with a record() that may be storing these ids right now, then look
        # again: what it committed meanwhile is visible to this next statement.
        yield lock_report_ids(missing)
        current.update((yield from _current(missing)))
    updates: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    unmatched: list[DeliveryReport] = []
    for rep in reports:
        key = (rep.connector, rep.external_id)
        found = current.get(key)
        if found is None:
            unmatched.append(rep)
            continue
        msg_id, status = found
        if not may_follow(status, rep.status):
            continue
        current[key] = (msg_id, rep.status)
        check = None if rep.status in FINAL else now + RECHECK_MS
        updates.append((rep.status.value, rep.error_code, check, now, msg_id))
        events.append((msg_id, rep.status.value, to_ms(rep.at), rep.error_code))
    yield Many(
        "UPDATE messages SET status = ?, error_code = ?, report_check_at = ?, updated_at = ?"
        " WHERE id = ?",
        updates,
    )
    yield Many(INSERT_EVENT, events)
    if park_unmatched:
        yield Many(
            "INSERT INTO pending_reports (connector, external_id, status, at, error_code)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (r.connector, r.external_id, r.status.value, to_ms(r.at), r.error_code)
                for r in unmatched
            ],
        )
    return len(updates)
