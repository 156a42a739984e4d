"""Webhook subscriptions, message-scoped notification targets, and the delivery queue.

Deliveries are claimed like messages (leases and fenced outcomes: ``storage.outbox``). On
PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets several processes send side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.ids import IdGenerator, new_id
from textgate.core.webhook_formats import TEXTGATE
from textgate.core.webhooks import Webhook, WebhookDelivery
from textgate.errors import NotFound
from textgate.storage.db import Database
from textgate.storage.outbox import Outbox, QueueOutcome
from textgate.storage.secrets import SecretBox
from textgate.storage.txn import Many, Query, Txn

__all__ = ["ACCOUNT_SCOPE", "MESSAGE_SCOPE", "DueDelivery", "WebhookRepo"]

DELIVERED = "delivered"
ACCOUNT_SCOPE, MESSAGE_SCOPE = "account", "message"

_DELIVERY_COLUMNS = (
    "d.id, d.webhook_id, d.event_id, d.event_type, d.status, d.attempts, d.created_at,"
    " d.next_attempt_at, d.delivered_at, d.last_error"
)
_OWNED = "JOIN webhooks w ON w.id = d.webhook_id WHERE w.account_id = ?"
_WEBHOOK_COLUMNS = "id, account_id, url, events, created_at, scope, format"
_QUEUE = Outbox("webhook_deliveries", done_status=DELIVERED, done_column="delivered_at")


@dataclass(frozen=True, slots=True)
class DueDelivery:
    id: str
    event_id: str
    payload: str
    url: str
    secret: str
    attempts: int
    """Attempts including this one; also the fencing token of this claim."""


def _webhook(r: Any) -> Webhook:
    return Webhook(
        id=r["id"],
        account_id=r["account_id"],
        url=r["url"],
        events=tuple(e for e in r["events"].split(",") if e),
        created_at=from_ms(r["created_at"]),
        scope=r["scope"],
        format=r["format"],
    )


def _delivery(r: Any) -> WebhookDelivery:
    return WebhookDelivery(
        id=r["id"],
        webhook_id=r["webhook_id"],
        event_id=r["event_id"],
        event_type=r["event_type"],
        status=r["status"],
        attempts=r["attempts"],
        created_at=from_ms(r["created_at"]),
        next_attempt_at=None if r["next_attempt_at"] is None else from_ms(r["next_attempt_at"]),
        delivered_at=None if r["delivered_at"] is None else from_ms(r["delivered_at"]),
        last_error=r["last_error"],
    )


class WebhookRepo:
    def __init__(self, db: Database, box: SecretBox, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock
        self._ids = IdGenerator()
        self._box = box

    async def create(
        self,
        account_id: str,
        url: str,
        events: Sequence[str],
        secret: str,
        *,
        scope: str = ACCOUNT_SCOPE,
        format: str = TEXTGATE,
    ) -> Webhook:
        now = self._clock()
        webhook_id = self._ids(now)
        row = (webhook_id, account_id, url, ",".join(events), self._seal(secret), now, scope)

        def txn() -> Txn[None]:
            yield Many(
                "INSERT INTO webhooks (id, account_id, url, events, secret, created_at, scope,"
                " format) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row, format)],
            )

        await self._db.txn(txn, urgent=True)
        return Webhook(
            webhook_id,
            account_id,
            url,
            tuple(events),
            from_ms(now),
            scope=scope,
            format=format,
            secret=secret,
        )

    def _seal(self, secret: str) -> str:
        return self._box.seal(secret)

    def _open(self, stored: str) -> str:
        return self._box.open(stored)

    async def of_account(self, account_id: str, scope: str | None = None) -> list[Webhook]:
        sql = f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE account_id = ?"  # noqa: S608
        params: tuple[str, ...] = (account_id,)
        if scope is not None:
            sql, params = sql + " AND scope = ?", (account_id, scope)

        def txn() -> Txn[list[Webhook]]:
            rows = yield Query(sql + " ORDER BY id", params)
            return [_webhook(r) for r in rows or ()]

        return await self._db.txn(txn, urgent=True)

    async def find_target(self, account_id: str, url: str, events: Sequence[str]) -> str | None:
        """The oldest message-scoped target with exactly this URL and event list."""

        def txn() -> Txn[list[Any]]:
            rows = yield Query(
                "SELECT id FROM webhooks WHERE scope = ? AND account_id = ? AND url = ?"
                " AND events = ? ORDER BY id LIMIT 1",
                (MESSAGE_SCOPE, account_id, url, ",".join(events)),
            )
            return list(rows or ())

        rows = await self._db.txn(txn, urgent=True)
        return str(rows[0]["id"]) if rows else None

    async def set_secret(self, account_id: str, webhook_id: str, secret: str) -> Webhook:
        def txn() -> Txn[None]:
            yield Many(
                "UPDATE webhooks SET secret = ? WHERE id = ? AND account_id = ?",
                [(self._seal(secret), webhook_id, account_id)],
            )

        await self._db.txn(txn, urgent=True)
        found = await self.get(account_id, webhook_id)
        return replace(found, secret=secret)

    async def get(self, account_id: str, webhook_id: str) -> Webhook:
        def txn() -> Txn[list[Any]]:
            rows = yield Query(
                f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks"  # noqa: S608
                " WHERE id = ? AND account_id = ?",
                (webhook_id, account_id),
            )
            return list(rows or ())

        rows = await self._db.txn(txn, urgent=True)
        if not rows:
            raise NotFound(f"no webhook {webhook_id}")
        return _webhook(rows[0])

    async def delete(self, account_id: str, webhook_id: str) -> None:
        """Remove a subscription and its queue (pending deliveries are not sent any more)."""

        def txn() -> Txn[bool]:
            rows = yield Query(
                "SELECT id FROM webhooks WHERE id = ? AND account_id = ?",
                (webhook_id, account_id),
                pg_sql="SELECT id FROM webhooks WHERE id = ? AND account_id = ? FOR UPDATE",
            )
            if not rows:
                return False
            yield Many("DELETE FROM webhook_deliveries WHERE webhook_id = ?", [(webhook_id,)])
            yield Many("DELETE FROM webhooks WHERE id = ?", [(webhook_id,)])
            return True

        if not await self._db.txn(txn, urgent=True):
            raise NotFound(f"no webhook {webhook_id}")

    async def deliveries(
        self,
        account_id: str,
        webhook_id: str,
        *,
        status: str | None,
        before_id: str | None,
        limit: int,
    ) -> list[WebhookDelivery]:
        """Newest first."""
        await self.get(account_id, webhook_id)
        select = f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries d {_OWNED}"  # noqa: S608
        where = [select + " AND d.webhook_id = ?"]
        params: list[Any] = [account_id, webhook_id]
        if status is not None:
            where.append("d.status = ?")
            params.append(status)
        if before_id is not None:
            where.append("d.id < ?")
            params.append(before_id)
        sql = " AND ".join(where) + f" ORDER BY d.id DESC LIMIT {int(limit)}"

        def txn() -> Txn[list[WebhookDelivery]]:
            rows = yield Query(sql, tuple(params))
            return [_delivery(r) for r in rows or ()]

        return await self._db.txn(txn, urgent=True)

    async def retry(self, account_id: str, delivery_id: str) -> WebhookDelivery:
        """Queue a delivery again, whatever its state (replaying a delivered one is allowed:
        receivers deduplicate on the event id). It gets a fresh set of attempts."""
        now = self._clock()

        def txn() -> Txn[list[Any]]:
            found = yield Query(
                f"SELECT d.id FROM webhook_deliveries d {_OWNED} AND d.id = ?",  # noqa: S608
                (account_id, delivery_id),
            )
            if not found:
                return []
            yield _QUEUE.requeue(delivery_id, now)
            rows = yield Query(
                f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.id = ?",  # noqa: S608
                (delivery_id,),
            )
            return list(rows or ())

        rows = await self._db.txn(txn, urgent=True)
        if not rows:
            raise NotFound(f"no webhook delivery {delivery_id}")
        return _delivery(rows[0])

    async def claim(self, *, now: int, lease_ms: int, limit: int) -> list[DueDelivery]:
        return await self._db.txn(lambda: self._claim(now, lease_ms, limit))

    def _claim(self, now: int, lease_ms: int, limit: int) -> Txn[list[DueDelivery]]:
        select = (
            "SELECT d.id, d.event_id, d.payload, d.attempts, w.url, w.secret"
            " FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
            " WHERE d.next_attempt_at <= ? ORDER BY d.next_attempt_at LIMIT ?"
        )
        rows = yield from _QUEUE.claim(
            select, pg_lock=" FOR UPDATE OF d SKIP LOCKED", now=now, lease_ms=lease_ms, limit=limit
        )
        return [
            DueDelivery(
                r["id"],
                r["event_id"],
                r["payload"],
                r["url"],
                self._open(r["secret"]),
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
            # Links of messages made before then: their events were fed long ago.
            yield Many(
                "DELETE FROM message_targets WHERE message_id < ?",
                [(new_id(older_than_ms, bytes(10)),)],
            )

        await self._db.txn(txn)
