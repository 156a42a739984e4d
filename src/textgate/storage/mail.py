"""The outbound mail queue (``mail_outbox``): enqueue, claim, record, list and replay.

Rows come from two places: interfaces that send mail themselves (:meth:`MailRepo.enqueue`,
committed before the interface answers) and the event feed (:func:`mail_row` inside the
feed's transaction, with a dedup key so a replayed feed adds nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.ids import IdGenerator
from textgate.core.mail import OutboundMail, OutgoingMail
from textgate.errors import NotFound
from textgate.storage.db import Database
from textgate.storage.outbox import Outbox, QueueOutcome
from textgate.storage.txn import Many, Query, Txn

__all__ = ["INSERT_MAIL", "DueMail", "MailRepo", "mail_row"]

SENT = "sent"
_QUEUE = Outbox("mail_outbox", done_status=SENT, done_column="sent_at")
INSERT_MAIL = (
    "INSERT INTO mail_outbox (id, account_id, source, dedup_key, mail_from, rcpt_to, subject,"
    " raw, status, attempts, next_attempt_at, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT DO NOTHING"
)
_COLUMNS = (
    "id, account_id, source, rcpt_to, subject, status, attempts, created_at, next_attempt_at,"
    " sent_at, last_error"
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
) -> tuple[Any, ...]:
    """Parameters of :data:`INSERT_MAIL` for one mail, due at once or at ``due_at``."""
    return (
        mail_id,
        account_id,
        source,
        dedup_key,
        mail.mail_from,
        ",".join(mail.rcpt_to),
        mail.subject[:500],
        mail.raw,
        now if due_at is None else due_at,
        now,
    )


def _mail(r: Any) -> OutboundMail:
    return OutboundMail(
        id=r["id"],
        account_id=r["account_id"],
        source=r["source"],
        to=tuple(a for a in r["rcpt_to"].split(",") if a),
        subject=r["subject"],
        status=r["status"],
        attempts=r["attempts"],
        created_at=from_ms(r["created_at"]),
        next_attempt_at=None if r["next_attempt_at"] is None else from_ms(r["next_attempt_at"]),
        sent_at=None if r["sent_at"] is None else from_ms(r["sent_at"]),
        last_error=r["last_error"],
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

        def txn() -> Txn[None]:
            yield Many(INSERT_MAIL, [row])

        await self._db.txn(txn, urgent=True)
        return mail_id

    async def of_account(
        self, account_id: str, *, status: str | None, before_id: str | None, limit: int
    ) -> list[OutboundMail]:
        """Newest first."""
        where = ["account_id = ?"]
        params: list[Any] = [account_id]
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        sql = (
            f"SELECT {_COLUMNS} FROM mail_outbox WHERE {' AND '.join(where)}"  # noqa: S608
            f" ORDER BY id DESC LIMIT {int(limit)}"
        )

        def txn() -> Txn[list[OutboundMail]]:
            rows = yield Query(sql, tuple(params))
            return [_mail(r) for r in rows or ()]

        return await self._db.txn(txn, urgent=True)

    async def get(self, account_id: str | None, mail_id: str) -> OutboundMail:
        """One mail; ``account_id`` None reads any (operator and tests)."""
        sql = f"SELECT {_COLUMNS} FROM mail_outbox WHERE id = ?"  # noqa: S608
        params: tuple[str, ...] = (mail_id,)
        if account_id is not None:
            sql, params = sql + " AND account_id = ?", (mail_id, account_id)

        def txn() -> Txn[list[Any]]:
            return list((yield Query(sql, params)) or ())

        rows = await self._db.txn(txn, urgent=True)
        if not rows:
            raise NotFound(f"no mail {mail_id}")
        return _mail(rows[0])

    async def retry(self, account_id: str, mail_id: str) -> OutboundMail:
        await self.get(account_id, mail_id)
        now = self._clock()

        def txn() -> Txn[None]:
            yield _QUEUE.requeue(mail_id, now)

        await self._db.txn(txn, urgent=True)
        return await self.get(account_id, mail_id)

    async def claim(self, *, now: int, lease_ms: int, limit: int) -> list[DueMail]:
        return await self._db.txn(lambda: self._claim(now, lease_ms, limit))

    def _claim(self, now: int, lease_ms: int, limit: int) -> Txn[list[DueMail]]:
        select = (
            "SELECT id, mail_from, rcpt_to, raw, attempts FROM mail_outbox"
            " WHERE next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?"
        )
        rows = yield from _QUEUE.claim(
            select, pg_lock=" FOR UPDATE SKIP LOCKED", now=now, lease_ms=lease_ms, limit=limit
        )
        return [
            DueMail(
                r["id"],
                r["mail_from"],
                tuple(a for a in r["rcpt_to"].split(",") if a),
                r["raw"],
                r["attempts"] + 1,
            )
            for r in rows
        ]

    async def record(self, outcomes: Sequence[QueueOutcome], *, now: int) -> None:
        if outcomes:
            await self._db.txn(lambda: _QUEUE.record(outcomes, now))

    async def purge(self, older_than_ms: int) -> None:
        def txn() -> Txn[None]:
            yield _QUEUE.purge(older_than_ms)

        await self._db.txn(txn)
