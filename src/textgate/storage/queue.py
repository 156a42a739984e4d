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
from textgate.storage.claims import INSERT_ROUTED_EVENT, VALIDITY, Router, claim_due
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
    "INSERT_ROUTED_EVENT",
    "IN_DOUBT",
    "RECHECK_MS",
    "VALIDITY",
    "WAITING",
    "Claim",
    "DispatchQueue",
    "Doubt",
    "Failure",
    "LateSent",
    "Retry",
    "Router",
    "Sent",
    "Wait",
    "apply_reports",
]

_SENDING = Status.SENDING.value

# Outcome updates are fenced by (claimed_by, attempts): see DispatchQueue.record.
_RECORD_SENT = (
    "UPDATE messages SET status = 'sent', connector = ?, external_id = ?, external_key = ?,"
    " report_check_at = ?, report_due_at = ?, upstream_cost = ?, next_attempt_at = NULL,"
    " claimed_by = NULL, error_code = NULL, reason = NULL, handoff_state = NULL, updated_at = ?"
    " WHERE id = ? AND claimed_by = ? AND attempts = ? AND status = 'sending'"
)
_RECORD_RETRY = (
    "UPDATE messages SET status = 'queued', next_attempt_at = ?, error_code = ?, reason = ?,"
    " handoff_state = ?, tried = ?, claimed_by = NULL, updated_at = ?"
    " WHERE id = ? AND claimed_by = ? AND attempts = ? AND status = 'sending'"
)
# A wait gives the claim's attempt back: it never reached the far end.
_RECORD_WAIT = (
    "UPDATE messages SET status = 'queued', next_attempt_at = ?, error_code = ?, reason = ?,"
    " handoff_state = ?, tried = ?, attempts = attempts - 1, claimed_by = NULL, updated_at = ?"
    " WHERE id = ? AND claimed_by = ? AND attempts = ? AND status = 'sending'"
)
_RECORD_FAILURE = (
    "UPDATE messages SET status = 'failed', next_attempt_at = NULL, connector = ?,"
    " error_code = ?, reason = ?, tried = ?, claimed_by = NULL, updated_at = ?"
    " WHERE id = ? AND claimed_by = ? AND attempts = ? AND status = 'sending'"
)
_RECORD_LATE = (
    "UPDATE messages SET status = 'sent', connector = ?, external_id = ?, external_key = ?,"
    " report_check_at = ?, report_due_at = ?, upstream_cost = ?, next_attempt_at = NULL,"
    " error_code = NULL, reason = NULL, handoff_state = NULL, updated_at = ?"
    " WHERE id = ? AND status = 'queued' AND error_code = ?"
)


class DispatchQueue:
    def __init__(self, db: Database, worker_id: str) -> None:
        self._db = db
        self.worker_id = worker_id

    async def claim(
        self,
        *,
        now: int,
        lease_ms: int,
        limit: int,
        validity_ms: int = 172_800_000,
        router: Router | None = None,
    ) -> list[Claim]:
        """Due messages, leased to this worker. Messages whose validity ended meanwhile
        (``valid_until``, else ``validity_ms`` after their due time) become ``expired`` in
        the same transaction instead. ``router`` chooses each one's connector."""
        me = self.worker_id
        return await self._db.txn(lambda: claim_due(me, now, lease_ms, limit, validity_ms, router))

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
        me = self.worker_id
        await self._db.txn(lambda: record_outcomes(me, now, sent, retries, failures, waits, doubts))

    async def record_late(self, late: Sequence[LateSent], *, now: int) -> int:
        """Record answers that came after their message was recorded in doubt; those
        already sent again (or final) are left alone and counted out."""
        if not late:
            return 0
        return await self._db.txn(lambda: record_late(late, now))

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


def record_outcomes(
    me: str,
    now: int,
    sent: Sequence[Sent],
    retries: Sequence[Retry],
    failures: Sequence[Failure],
    waits: Sequence[Wait],
    doubts: Sequence[Doubt],
) -> Txn[None]:
    """Outcomes of worker ``me``'s claims (see ``DispatchQueue.record``)."""
    # (connector, id key) of each sent message, worked out once for its three uses.
    keyed = [(s.connector, id_key(s.external_id)) for s in sent]
    if sent:
        # Before the ids become visible: see lock_report_ids.
        yield lock_report_ids(keyed)
    yield Many(
        _RECORD_SENT,
        [
            (
                s.connector,
                s.external_id,
                key,
                s.report_check_at,
                s.report_due_at,
                s.cost,
                now,
                s.claim.id,
                me,
                s.claim.attempts,
            )
            for s, (_, key) in zip(sent, keyed, strict=True)
        ],
    )
    yield Many(
        _RECORD_RETRY,
        [
            (
                r.at,
                r.error_code,
                r.reason,
                r.progress,
                r.tried,
                now,
                r.claim.id,
                me,
                r.claim.attempts,
            )
            for r in retries
        ]
        + [
            (
                d.at,
                IN_DOUBT,
                d.reason,
                d.progress,
                d.claim.tried,
                now,
                d.claim.id,
                me,
                d.claim.attempts,
            )
            for d in doubts
        ],
    )
    yield Many(
        _RECORD_WAIT,
        [
            (w.at, WAITING, w.reason, w.progress, w.tried, now, w.claim.id, me, w.claim.attempts)
            for w in waits
        ],
    )
    yield Many(
        _RECORD_FAILURE,
        [
            (f.connector, f.error_code, f.reason, f.tried, now, f.claim.id, me, f.claim.attempts)
            for f in failures
        ],
    )
    yield Many(INSERT_ROUTED_EVENT, _events(now, sent, retries, failures, waits, doubts))
    # Failed before any operator accepted it: the charge goes back (once; see credits).
    refunds = [f for f in failures if f.refund]
    yield from refund_failed(
        [f.claim.id for f in refunds],
        now,
        "not sent: " + (refunds[0].error_code if refunds else ""),
    )
    if sent:
        yield from apply_parked(keyed, now)


def record_late(late: Sequence[LateSent], now: int) -> Txn[int]:
    """Answers that came after their message was recorded in doubt: applied to those still
    waiting in doubt; returns how many were."""
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
                s.cost,
                now,
                s.message_id,
                IN_DOUBT,
            )
            for s in applied
        ],
    )
    detail = "answered after the response timeout"
    yield Many(
        INSERT_ROUTED_EVENT,
        [(s.message_id, "sent", now, detail, s.connector, s.route) for s in applied],
    )
    if applied:
        yield from apply_parked([(s.connector, id_key(s.external_id)) for s in applied], now)
    return len(applied)


def _events(
    now: int,
    sent: Sequence[Sent],
    retries: Sequence[Retry],
    failures: Sequence[Failure],
    waits: Sequence[Wait],
    doubts: Sequence[Doubt],
) -> list[tuple[Any, ...]]:
    """The history lines of recorded outcomes, each with its connector and route."""
    events: list[tuple[Any, ...]] = [
        (s.claim.id, "sent", now, None, s.connector, s.claim.route) for s in sent
    ]
    events += [
        (
            r.claim.id,
            "queued",
            now,
            f"retry {r.claim.attempts + 1}: {r.reason}",
            r.connector,
            r.claim.route,
        )
        for r in retries
    ]
    events += [
        (d.claim.id, "queued", now, f"in doubt: {d.reason}", d.connector, d.claim.route)
        for d in doubts
    ]
    # One line when the wait begins, not one per look at a link that is still down.
    events += [
        (w.claim.id, "queued", now, f"waiting for a link: {w.reason}", w.connector, w.claim.route)
        for w in waits
        if w.claim.previous != WAITING or w.claim.connector != (w.claim.last_connector or "")
    ]
    events += [(f.claim.id, "failed", now, f.reason, f.connector, f.claim.route) for f in failures]
    return events
