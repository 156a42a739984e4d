"""The dispatch queue: claiming due messages and recording what connectors said.

A message wants the dispatcher while ``next_attempt_at`` is set: its due time while queued
or scheduled, its retry time after a refusal or a wait for a link, and its lease expiry
while a worker holds it (``sending``). A worker that dies leaves leases that simply fall due
again, so its claims are recovered without any coordinator; a worker restarted under the
same identity takes its own back at once (:meth:`DispatchQueue.reclaim_own`). On PostgreSQL
``FOR UPDATE SKIP LOCKED`` lets many workers claim side by side without ever taking the same
row.

Outcomes are recorded per message (DESIGN "Delivery contract"), in these kinds:

- :class:`Sent`: the operator took it; its id is stored with its match key.
- :class:`Wait`: never handed off (link down, throttled before sending): back to waiting,
  the attempt given back. Only validity ends the wait (claim turns it ``expired``).
- :class:`Retry`: refused for now by the far end; an attempt used.
- :class:`Doubt`: written, never answered. Back to waiting (``error_code`` ``in_doubt``)
  until its time; a late answer meanwhile records it as sent (:meth:`record_late`).
- :class:`Failure`: final. Refunded unless it may have reached the operator.

These are the hottest statements of the gateway, so they are plain SQL run through
``storage.txn`` (one thread hop per transaction on SQLite).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textgate.core.external_ids import id_key
from textgate.core.message import DeliveryReport, Status
from textgate.storage.credits import refund_failed
from textgate.storage.db import Database
from textgate.storage.outcomes import (
    IN_DOUBT,
    WAITING,
    Claim,
    Doubt,
    Failure,
    LateSent,
    Retry,
    Sent,
    Wait,
)
from textgate.storage.reports import (
    INSERT_EVENT,
    RECHECK_MS,
    ReportCheck,
    apply_parked,
    apply_reports,
    due_report_checks,
    lock_report_ids,
)
from textgate.storage.txn import Many, Query, Txn, in_list

__all__ = [
    "INSERT_EVENT",
    "IN_DOUBT",
    "RECHECK_MS",
    "WAITING",
    "Claim",
    "DispatchQueue",
    "Doubt",
    "Failure",
    "LateSent",
    "Retry",
    "Sent",
    "Wait",
    "apply_reports",
]

_SENDING = Status.SENDING.value
VALIDITY = "validity"
"""error_code of a message whose validity ended before it could be sent."""

# Outcome updates are fenced by (claimed_by, attempts): see DispatchQueue.record.
_RECORD_SENT = (
    "UPDATE messages SET status = 'sent', connector = ?, external_id = ?, external_key = ?,"
    " report_check_at = ?, report_due_at = ?, next_attempt_at = NULL, claimed_by = NULL,"
    " error_code = NULL, reason = NULL, handoff_state = NULL, updated_at = ?"
    " WHERE id = ? AND claimed_by = ? AND attempts = ? AND status = 'sending'"
)
_RECORD_RETRY = (
    "UPDATE messages SET status = 'queued', next_attempt_at = ?, error_code = ?, reason = ?,"
    " handoff_state = ?, claimed_by = NULL, updated_at = ?"
    " WHERE id = ? AND claimed_by = ? AND attempts = ? AND status = 'sending'"
)
# A wait gives the claim's attempt back: it never reached the far end.
_RECORD_WAIT = (
    "UPDATE messages SET status = 'queued', next_attempt_at = ?, error_code = ?, reason = ?,"
    " handoff_state = ?, attempts = attempts - 1, claimed_by = NULL, updated_at = ?"
    " WHERE id = ? AND claimed_by = ? AND attempts = ? AND status = 'sending'"
)
_RECORD_FAILURE = (
    "UPDATE messages SET status = 'failed', next_attempt_at = NULL, connector = ?,"
    " error_code = ?, reason = ?, claimed_by = NULL, updated_at = ?"
    " WHERE id = ? AND claimed_by = ? AND attempts = ? AND status = 'sending'"
)
_RECORD_LATE = (
    "UPDATE messages SET status = 'sent', connector = ?, external_id = ?, external_key = ?,"
    " report_check_at = ?, report_due_at = ?, next_attempt_at = NULL, error_code = NULL,"
    " reason = NULL, handoff_state = NULL, updated_at = ?"
    " WHERE id = ? AND status = 'queued' AND error_code = ?"
)


class DispatchQueue:
    def __init__(self, db: Database, worker_id: str) -> None:
        self._db = db
        self.worker_id = worker_id

    async def claim(
        self, *, now: int, lease_ms: int, limit: int, validity_ms: int = 172_800_000
    ) -> list[Claim]:
        """Due messages, leased to this worker. Messages whose validity ended meanwhile
        (``valid_until``, else ``validity_ms`` after their due time) become ``expired`` in
        the same transaction instead."""
        return await self._db.txn(lambda: self._claim(now, lease_ms, limit, validity_ms))

    def _claim(self, now: int, lease_ms: int, limit: int, validity_ms: int) -> Txn[list[Claim]]:
        select = (
            "SELECT id, account_id, recipient, sender, text, encoding, segments, attempts,"
            " status, quality, error_code, reason, valid_until, scheduled_at, created_at,"
            " handoff_state"
            " FROM messages WHERE next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?"
        )
        rows = yield Query(select, (now, limit), pg_sql=select + " FOR UPDATE SKIP LOCKED")
        if not rows:
            return []
        claims: list[Claim] = []
        ended: list[Claim] = []
        reasons: dict[str, str | None] = {}
        for r in rows:
            due_at = r["scheduled_at"] or r["created_at"]
            valid_until = r["valid_until"]
            if valid_until is None:
                valid_until = due_at + validity_ms
            claim = Claim(
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
                r["error_code"],
                valid_until,
                due_at,
                r["handoff_state"],
            )
            if valid_until <= now:
                ended.append(claim)
                reasons[claim.id] = r["reason"]
            else:
                claims.append(claim)
        if ended:
            yield from self._expire(ended, reasons, now)
        if not claims:
            return []
        yield in_list(
            "UPDATE messages SET status = ?, next_attempt_at = ?, attempts = attempts + 1,"
            " claimed_by = ?, updated_at = ? WHERE id IN {in}",
            [c.id for c in claims],
            before=(_SENDING, now + lease_ms, self.worker_id, now),
        )
        # A message that only waited for its link was announced as sending already; its
        # history gets no new line each time it looks again.
        yield Many(
            INSERT_EVENT,
            [
                (c.id, _SENDING, now, "recovered after lease expiry" if c.recovered else None)
                for c in claims
                if c.previous != WAITING or c.recovered
            ],
        )
        return claims

    def _expire(self, ended: list[Claim], reasons: dict[str, str | None], now: int) -> Txn[None]:
        yield in_list(
            "UPDATE messages SET status = 'expired', next_attempt_at = NULL, claimed_by = NULL,"
            " error_code = ?, updated_at = ? WHERE id IN {in}",
            [c.id for c in ended],
            before=(VALIDITY, now),
        )
        yield Many(
            INSERT_EVENT,
            [
                (
                    c.id,
                    Status.EXPIRED.value,
                    now,
                    "validity ended before it could be sent"
                    + (f" (last: {reasons[c.id]})" if reasons.get(c.id) else ""),
                )
                for c in ended
            ],
        )
        # Never handed off: the charge goes back. One that may have gone out keeps it.
        yield from refund_failed(
            [c.id for c in ended if not c.in_doubt],
            now,
            "not sent: validity",
            statuses=("expired",),
        )

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

    async def reclaim_own(self, *, now: int) -> int:
        """Make this worker's leftover claims (a crash under the same identity) due now,
        rather than after their lease: they come back marked recovered (in doubt)."""

        def txn() -> Txn[int]:
            rows = yield Query(
                "SELECT id FROM messages WHERE claimed_by = ? AND status = ?",
                (self.worker_id, _SENDING),
            )
            ids = [r["id"] for r in rows or ()]
            if ids:
                yield in_list(
                    "UPDATE messages SET next_attempt_at = ? WHERE claimed_by = ?"
                    " AND status = ? AND id IN {in}",
                    ids,
                    before=(now, self.worker_id, _SENDING),
                )
            return len(ids)

        return await self._db.txn(txn)

    async def record(
        self,
        *,
        now: int,
        sent: Sequence[Sent] = (),
        retries: Sequence[Retry] = (),
        failures: Sequence[Failure] = (),
        waits: Sequence[Wait] = (),
        doubts: Sequence[Doubt] = (),
    ) -> None:
        """Record outcomes in one transaction.

        Updates are fenced by (claimed_by, attempts): a worker whose lease was taken over
        cannot overwrite the newer holder's result.
        """
        await self._db.txn(lambda: self._record(now, sent, retries, failures, waits, doubts))

    def _record(
        self,
        now: int,
        sent: Sequence[Sent],
        retries: Sequence[Retry],
        failures: Sequence[Failure],
        waits: Sequence[Wait],
        doubts: Sequence[Doubt],
    ) -> Txn[None]:
        me = self.worker_id
        if sent:
            # Before the ids become visible: see lock_report_ids.
            yield lock_report_ids([(s.connector, id_key(s.external_id)) for s in sent])
        yield Many(
            _RECORD_SENT,
            [
                (
                    s.connector,
                    s.external_id,
                    id_key(s.external_id),
                    s.report_check_at,
                    s.report_due_at,
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
                (r.at, r.error_code, r.reason, r.progress, now, r.claim.id, me, r.claim.attempts)
                for r in retries
            ]
            + [
                (d.at, IN_DOUBT, d.reason, d.progress, now, d.claim.id, me, d.claim.attempts)
                for d in doubts
            ],
        )
        yield Many(
            _RECORD_WAIT,
            [
                (w.at, WAITING, w.reason, w.progress, now, w.claim.id, me, w.claim.attempts)
                for w in waits
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
        events += [(d.claim.id, "queued", now, f"in doubt: {d.reason}") for d in doubts]
        # One line when the wait begins, not one per look at a link that is still down.
        events += [
            (w.claim.id, "queued", now, f"waiting for a link: {w.reason}")
            for w in waits
            if w.claim.previous != WAITING
        ]
        events += [(f.claim.id, "failed", now, f.reason) for f in failures]
        yield Many(INSERT_EVENT, events)
        # Failed before any operator accepted it: the charge goes back (once; see credits).
        refunds = [f for f in failures if f.refund]
        yield from refund_failed(
            [f.claim.id for f in refunds],
            now,
            "not sent: " + (refunds[0].error_code if refunds else ""),
        )
        if sent:
            yield from apply_parked([(s.connector, s.external_id) for s in sent], now)

    async def record_late(self, late: Sequence[LateSent], *, now: int) -> int:
        """Record answers that came after their message was recorded in doubt; those
        already sent again (or final) are left alone and counted out."""
        if not late:
            return 0
        return await self._db.txn(lambda: self._record_late(late, now))

    def _record_late(self, late: Sequence[LateSent], now: int) -> Txn[int]:
        yield lock_report_ids([(s.connector, id_key(s.external_id)) for s in late])
        rows = yield in_list(
            "SELECT id FROM messages WHERE status = 'queued' AND error_code = ? AND id IN {in}",
            [s.message_id for s in late],
            before=(IN_DOUBT,),
        )
        open_ids = {r["id"] for r in rows or ()}
        applied = [s for s in late if s.message_id in open_ids]
        yield Many(
            _RECORD_LATE,
            [
                (
                    s.connector,
                    s.external_id,
                    id_key(s.external_id),
                    s.report_check_at,
                    s.report_due_at,
                    now,
                    s.message_id,
                    IN_DOUBT,
                )
                for s in applied
            ],
        )
        yield Many(
            INSERT_EVENT,
            [(s.message_id, "sent", now, "answered after the response timeout") for s in applied],
        )
        if applied:
            yield from apply_parked([(s.connector, s.external_id) for s in applied], now)
        return len(applied)

    async def apply_reports(self, reports: Sequence[DeliveryReport], now: int) -> int:
        """Apply delivery reports; park the ones whose message is not known yet."""
        # The operator's link waits for this commit (see storage.writelock).
        return await self._db.txn(
            lambda: apply_reports(reports, now, park_unmatched=True), link=True
        )

    async def due_report_checks(
        self, *, now: int, limit: int, recheck_ms: int
    ) -> list[ReportCheck]:
        """Messages whose report is overdue (ends those past their receipt window)."""
        return await self._db.txn(lambda: due_report_checks(now, limit, recheck_ms))
