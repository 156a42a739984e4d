"""Webhook subscriptions and their durable delivery queue.

Deliveries are claimed like messages (see ``storage.queue``): ``next_attempt_at`` is the due
time while pending and the lease expiry while a sender holds one, so a sender that dies
leaves deliveries that simply fall due again. Outcomes are fenced by ``attempts``: a sender
whose lease was taken over cannot overwrite the newer attempt's result. On PostgreSQL
``FOR UPDATE SKIP LOCKED`` lets several processes send side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.ids import IdGenerator
from textgate.core.webhooks import Webhook, WebhookDelivery
from textgate.errors import NotFound
from textgate.storage.db import Database
from textgate.storage.txn import Many, Query, Txn, in_list

__all__ = ["DueDelivery", "Outcome", "WebhookRepo"]

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"

_DELIVERY_COLUMNS = (
    "d.id, d.webhook_id, d.event_id, d.event_type, d.status, d.attempts, d.created_at,"
    " d.next_attempt_at, d.delivered_at, d.last_error"
)
_OWNED = "JOIN webhooks w ON w.id = d.webhook_id WHERE w.account_id = ?"
# Outcomes are fenced by the attempt that was claimed (see the module docstring).
_SET_DELIVERED = (
    "UPDATE webhook_deliveries SET status = ?, next_attempt_at = NULL, delivered_at = ?,"
    " last_error = NULL WHERE id = ? AND attempts = ? AND status = 'pending'"
)
_SET_RETRY = (
    "UPDATE webhook_deliveries SET next_attempt_at = ?, last_error = ?"
    " WHERE id = ? AND attempts = ? AND status = 'pending'"
)
_SET_DEAD = (
    "UPDATE webhook_deliveries SET status = ?, next_attempt_at = NULL, last_error = ?"
    " WHERE id = ? AND attempts = ? AND status = 'pending'"
)
# Statements below are assembled from these constants only (S608 noqa); every value is a
# bound parameter.


@dataclass(frozen=True, slots=True)
class DueDelivery:
    id: str
    event_id: str
    payload: str
    url: str
    secret: str
    attempts: int
    """Attempts including this one; also the fencing token of this claim."""


@dataclass(frozen=True, slots=True)
class Outcome:
    delivery: DueDelivery
    error: str | None
    """None: delivered."""
    retry_at: int | None = None
    """When to try again after an error; None with an error: dead-lettered."""


def _webhook(r: Any) -> Webhook:
    return Webhook(
        id=r["id"],
        account_id=r["account_id"],
        url=r["url"],
        events=tuple(e for e in r["events"].split(",") if e),
        created_at=from_ms(r["created_at"]),
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
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock
        self._ids = IdGenerator()

    async def create(
        self, account_id: str, url: str, events: Sequence[str], secret: str
    ) -> Webhook:
        now = self._clock()
        webhook_id = self._ids(now)

        def txn() -> Txn[None]:
            yield Many(
                "INSERT INTO webhooks (id, account_id, url, events, secret, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(webhook_id, account_id, url, ",".join(events), secret, now)],
            )

        await self._db.txn(txn, urgent=True)
        return Webhook(webhook_id, account_id, url, tuple(events), from_ms(now), secret=secret)

    async def of_account(self, account_id: str) -> list[Webhook]:
        def txn() -> Txn[list[Webhook]]:
            rows = yield Query(
                "SELECT id, account_id, url, events, created_at FROM webhooks"
                " WHERE account_id = ? ORDER BY id",
                (account_id,),
            )
            return [_webhook(r) for r in rows or ()]

        return await self._db.txn(txn, urgent=True)

    async def get(self, account_id: str, webhook_id: str) -> Webhook:
        def txn() -> Txn[list[Any]]:
            rows = yield Query(
                "SELECT id, account_id, url, events, created_at FROM webhooks"
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
            yield Many(
                "UPDATE webhook_deliveries SET status = ?, attempts = 0, next_attempt_at = ?,"
                " delivered_at = NULL WHERE id = ?",
                [(PENDING, now, delivery_id)],
            )
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
        rows = yield Query(select, (now, limit), pg_sql=select + " FOR UPDATE OF d SKIP LOCKED")
        if not rows:
            return []
        yield in_list(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?"
            " WHERE id IN {in}",
            [r["id"] for r in rows],
            before=(now + lease_ms,),
        )
        return [
            DueDelivery(
                r["id"], r["event_id"], r["payload"], r["url"], r["secret"], r["attempts"] + 1
            )
            for r in rows
        ]

    async def record(self, outcomes: Sequence[Outcome], *, now: int) -> None:
        if outcomes:
            await self._db.txn(lambda: self._record(outcomes, now))

    def _record(self, outcomes: Sequence[Outcome], now: int) -> Txn[None]:
        yield Many(
            _SET_DELIVERED,
            [
                (DELIVERED, now, o.delivery.id, o.delivery.attempts)
                for o in outcomes
                if o.error is None
            ],
        )
        yield Many(
            _SET_RETRY,
            [
                (o.retry_at, o.error[:500], o.delivery.id, o.delivery.attempts)
                for o in outcomes
                if o.error is not None and o.retry_at is not None
            ],
        )
        yield Many(
            _SET_DEAD,
            [
                (DEAD, o.error[:500], o.delivery.id, o.delivery.attempts)
                for o in outcomes
                if o.error is not None and o.retry_at is None
            ],
        )
