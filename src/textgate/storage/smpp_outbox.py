"""The deliver_sm queue of the SMPP server: receipts and inbound messages for its customers.

Rows are made by the webhook feed (``storage.webhook_feed``) from the same committed events
that webhooks are made from, in the same transaction that moves the feed's cursor, so that
nothing is announced twice or lost. They are claimed like webhook deliveries (leases and
fenced outcomes: ``storage.outbox``), but only for the accounts the claiming process has a
receiver bind of: a row waits, without using an attempt, until its account binds.

Which rows are made:

- a receipt for each final status of a message whose submitter asked for one
  (``messages.receipt``, core.message.ReceiptRequest);
- an inbound message for each MO of an account that has an SMPP login, bound or not: it
  waits in the queue until a receiver bind takes it (an account that drops its bind for a
  moment loses nothing).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from textgate.core.clock import Clock, system_clock
from textgate.core.ids import IdGenerator
from textgate.core.message import ReceiptRequest, Status
from textgate.storage.db import Database
from textgate.storage.outbox import PENDING, Outbox, QueueOutcome, insert_new, writing
from textgate.storage.tables import smpp_deliveries, smpp_logins

__all__ = [
    "INBOUND",
    "RECEIPT",
    "DueDeliverSm",
    "SmppOutboxRepo",
    "SmppRows",
    "smpp_accounts",
]

RECEIPT, INBOUND = "receipt", "inbound"
DELIVERED = "delivered"

_d = smpp_deliveries.c
_QUEUE = Outbox(smpp_deliveries, done_status=DELIVERED, done_column="delivered_at")


@dataclass(frozen=True, slots=True)
class DueDeliverSm:
    id: str
    account_id: str
    kind: str
    """RECEIPT or INBOUND."""
    payload: dict[str, Any]
    attempts: int
    """Attempts including this one; also the fencing token of this claim."""


async def smpp_accounts(conn: AsyncConnection) -> frozenset[str]:
    """The accounts that have an SMPP login (a handful: one row per SMPP customer)."""
    rows = await conn.execute(select(smpp_logins.c.account_id))
    return frozenset(r.account_id for r in rows)


class SmppRows:
    """The queue rows one feed pass makes."""

    def __init__(self, ids: IdGenerator, now: int) -> None:
        self._ids = ids
        self._now = now
        self.rows: list[dict[str, Any]] = []

    def receipt(self, event_id: str, e: Any) -> None:
        """A message event (the feed's row: the event and its message); a row only when
        the message's submitter wants a receipt of this status."""
        if e.receipt is None or not ReceiptRequest(e.receipt).wants(Status(e.status)):
            return
        self._add(
            e.account_id,
            RECEIPT,
            event_id,
            {
                "message_id": e.message_id,
                # Set by a submit_multi: the id its answer gave (smpp_server.multi).
                "client_ref": e.client_ref,
                "status": e.status,
                "recipient": e.recipient,
                "sender": e.sender,
                "submitted_at": e.submitted_at,
                "done_at": e.at,
                "error_code": e.error_code,
                "text": e.text,
            },
        )

    def inbound(self, event_id: str, m: Any) -> None:
        self._add(
            m.account_id,
            INBOUND,
            event_id,
            {"inbound_id": m.id, "from": m.sender, "to": m.recipient, "text": m.text},
        )

    def _add(self, account_id: str, kind: str, event_id: str, payload: dict[str, Any]) -> None:
        now = self._now
        self.rows.append(
            {
                "id": self._ids(now),
                "account_id": account_id,
                "kind": kind,
                "event_id": event_id,
                "payload": json.dumps(payload, separators=(",", ":")),
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )

    async def insert(self, conn: AsyncConnection) -> None:
        if self.rows:
            # An (account, event) pair fed before (a replay after a crash) is skipped.
            await conn.execute(insert_new(conn, smpp_deliveries), self.rows)


class SmppOutboxRepo:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    async def claim(
        self, accounts: Collection[str], *, now: int, lease_ms: int, limit: int
    ) -> list[DueDeliverSm]:
        """Due rows of these accounts (those bound here), leased until ``now + lease_ms``."""
        if not accounts:
            return []
        # Background work: on SQLite it yields the write turn to what clients wait for.
        async with writing(self._db, urgent=False) as conn:
            rows = await _QUEUE.claim(
                conn,
                select(_d.id, _d.account_id, _d.kind, _d.payload, _d.attempts).where(
                    _d.account_id.in_(sorted(accounts))
                ),
                now=now,
                lease_ms=lease_ms,
                limit=limit,
            )
        return [
            DueDeliverSm(r.id, r.account_id, r.kind, json.loads(r.payload), r.attempts + 1)
            for r in rows
        ]

    async def record(self, outcomes: Sequence[QueueOutcome], *, now: int) -> None:
        if outcomes:
            async with writing(self._db, urgent=False) as conn:
                await _QUEUE.record(conn, outcomes, now)

    async def pending(self, account_id: str) -> int:
        """Rows of the account not delivered yet (nor given up on)."""
        async with self._db.read() as conn:
            found = await conn.execute(
                select(func.count())
                .select_from(smpp_deliveries)
                .where(_d.account_id == account_id, _d.status == PENDING)
            )
            return int(found.scalar_one())

    async def pending_by_account(self, accounts: Collection[str]) -> dict[tuple[str, str], int]:
        """Rows not delivered yet (nor given up on) of these accounts, by (account id,
        kind); a pair with none is left out."""
        if not accounts:
            return {}
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(_d.account_id, _d.kind, func.count())
                .where(_d.account_id.in_(sorted(accounts)), _d.status == PENDING)
                .group_by(_d.account_id, _d.kind)
            )
            return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}

    async def purge(self, older_than_ms: int) -> None:
        async with writing(self._db, urgent=False) as conn:
            await _QUEUE.purge(conn, older_than_ms)
