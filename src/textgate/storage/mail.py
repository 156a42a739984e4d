"""The outbound mail queue (``mail_outbox``): enqueue, claim, record, list and replay.

Rows come from two places: interfaces that send mail themselves (:meth:`MailRepo.enqueue`,
committed before the interface answers) and the event feed (:func:`insert_mails` with
:func:`mail_row` inside the feed's transaction, with a dedup key so a replayed feed adds
nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.ids import IdGenerator
from textgate.core.mail import OutboundMail, OutgoingMail
from textgate.errors import NotFound
from textgate.storage.db import Database
from textgate.storage.outbox import PENDING, Outbox, QueueOutcome, insert_new, writing
from textgate.storage.tables import mail_outbox

__all__ = ["DueMail", "MailRepo", "insert_mails", "mail_row"]

SENT = "sent"
_QUEUE = Outbox(mail_outbox, done_status=SENT, done_column="sent_at")
_c = mail_outbox.c
_LISTED = select(
    _c.id,
    _c.account_id,
    _c.source,
    _c.rcpt_to,
    _c.subject,
    _c.status,
    _c.attempts,
    _c.created_at,
    _c.next_attempt_at,
    _c.sent_at,
    _c.last_error,
)


@dataclass(frozen=True, slots=True)
class DueMail:
    id: str
    mail_from: str
    rcpt_to: tuple[str, ...]
    raw: str
    attempts: int
    """Attempts including this one; also the fencing token of this claim."""


def mail_row(
    mail_id: str,
    account_id: str | None,
    source: str,
    mail: OutgoingMail,
    now: int,
    dedup_key: str | None = None,
    due_at: int | None = None,
) -> dict[str, Any]:
    """The ``mail_outbox`` row of one pending mail, due at once or at ``due_at``."""
    return {
        "id": mail_id,
        "account_id": account_id,
        "source": source,
        "dedup_key": dedup_key,
        "mail_from": mail.mail_from,
        "rcpt_to": ",".join(mail.rcpt_to),
        "subject": mail.subject[:500],
        "raw": mail.raw,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now if due_at is None else due_at,
        "created_at": now,
    }


async def insert_mails(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Queue rows of :func:`mail_row`; one whose id or dedup key is taken is skipped."""
    if rows:
        await conn.execute(insert_new(conn, mail_outbox), list(rows))


def _mail(r: Any) -> OutboundMail:
    return OutboundMail(
        id=r.id,
        account_id=r.account_id,
        source=r.source,
        to=tuple(a for a in r.rcpt_to.split(",") if a),
        subject=r.subject,
        status=r.status,
        attempts=r.attempts,
        created_at=from_ms(r.created_at),
        next_attempt_at=None if r.next_attempt_at is None else from_ms(r.next_attempt_at),
        sent_at=None if r.sent_at is None else from_ms(r.sent_at),
        last_error=r.last_error,
    )


class MailRepo:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock
        self._ids = IdGenerator()

    async def enqueue(
        self,
        account_id: str | None,
        source: str,
        mail: OutgoingMail,
        *,
        dedup_key: str | None = None,
        due_at: int | None = None,
    ) -> str:
        now = self._clock()
        mail_id = self._ids(now)
        row = mail_row(mail_id, account_id, source, mail, now, dedup_key, due_at)
        async with writing(self._db) as conn:
            await insert_mails(conn, [row])
        return mail_id

    async def of_account(
        self, account_id: str, *, status: str | None, before_id: str | None, limit: int
    ) -> list[OutboundMail]:
        """Newest first."""
        query = _LISTED.where(_c.account_id == account_id)
        if status is not None:
            query = query.where(_c.status == status)
        if before_id is not None:
            query = query.where(_c.id < before_id)
        async with self._db.read() as conn:
            rows = await conn.execute(query.order_by(_c.id.desc()).limit(int(limit)))
            return [_mail(r) for r in rows]

    async def get(self, account_id: str | None, mail_id: str) -> OutboundMail:
        """One mail; ``account_id`` None reads any (operator and tests)."""
        query = _LISTED.where(_c.id == mail_id)
        if account_id is not None:
            query = query.where(_c.account_id == account_id)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(f"no mail {mail_id}")
        return _mail(row)

    async def retry(self, account_id: str, mail_id: str) -> OutboundMail:
        await self.get(account_id, mail_id)
        now = self._clock()
        async with writing(self._db) as conn:
            await _QUEUE.requeue(conn, mail_id, now)
        return await self.get(account_id, mail_id)

    async def claim(self, *, now: int, lease_ms: int, limit: int) -> list[DueMail]:
        # Background work: on SQLite it yields the write turn to what clients wait for.
        async with writing(self._db, urgent=False) as conn:
            rows = await _QUEUE.claim(
                conn,
                select(_c.id, _c.mail_from, _c.rcpt_to, _c.raw, _c.attempts),
                now=now,
                lease_ms=lease_ms,
                limit=limit,
            )
        return [
            DueMail(
                r.id,
                r.mail_from,
                tuple(a for a in r.rcpt_to.split(",") if a),
                r.raw,
                r.attempts + 1,
            )
            for r in rows
        ]

    async def record(self, outcomes: Sequence[QueueOutcome], *, now: int) -> None:
        if outcomes:
            async with writing(self._db, urgent=False) as conn:
                await _QUEUE.record(conn, outcomes, now)

    async def purge(self, older_than_ms: int) -> None:
        async with writing(self._db, urgent=False) as conn:
            await _QUEUE.purge(conn, older_than_ms)
