"""Webhook subscriptions, message-scoped notification targets, and the delivery queue.

Deliveries are claimed like messages (leases and fenced outcomes: ``storage.outbox``). On
PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets several processes send side by side.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, insert, select, update

from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.ids import IdGenerator, new_id
from textgate.core.webhook_formats import TEXTGATE
from textgate.core.webhooks import Webhook, WebhookDelivery
from textgate.errors import NotFound
from textgate.storage.db import Database
from textgate.storage.outbox import Outbox, QueueOutcome, writing
from textgate.storage.secrets import SecretBox
from textgate.storage.tables import message_targets, webhook_deliveries, webhooks

__all__ = ["ACCOUNT_SCOPE", "MESSAGE_SCOPE", "DueDelivery", "WebhookRepo"]

DELIVERED = "delivered"
ACCOUNT_SCOPE, MESSAGE_SCOPE = "account", "message"

_w, _d = webhooks.c, webhook_deliveries.c
_WEBHOOKS = select(
    _w.id, _w.account_id, _w.url, _w.events, _w.created_at, _w.scope, _w.format, _w.label
)
_DELIVERIES = select(
    _d.id,
    _d.webhook_id,
    _d.event_id,
    _d.event_type,
    _d.status,
    _d.attempts,
    _d.created_at,
    _d.next_attempt_at,
    _d.delivered_at,
    _d.last_error,
)
_OWNED = webhook_deliveries.join(webhooks, _w.id == _d.webhook_id)
"""Deliveries with their subscription, to select those of one account."""
_QUEUE = Outbox(webhook_deliveries, done_status=DELIVERED, done_column="delivered_at")


@dataclass(frozen=True, slots=True)
class DueDelivery:
    id: str
    event_id: str
    payload: str
    url: str
    secret: str
    attempts: int
    """Attempts including this one; also the fencing token of this claim."""
    format: str = TEXTGATE
    """The subscription's payload format (core.webhook_formats), which may carry its own
    headers."""


def _webhook(r: Any) -> Webhook:
    return Webhook(
        id=r.id,
        account_id=r.account_id,
        url=r.url,
        events=tuple(e for e in r.events.split(",") if e),
        created_at=from_ms(r.created_at),
        scope=r.scope,
        format=r.format,
        label=r.label,
    )


def _delivery(r: Any) -> WebhookDelivery:
    return WebhookDelivery(
        id=r.id,
        webhook_id=r.webhook_id,
        event_id=r.event_id,
        event_type=r.event_type,
        status=r.status,
        attempts=r.attempts,
        created_at=from_ms(r.created_at),
        next_attempt_at=None if r.next_attempt_at is None else from_ms(r.next_attempt_at),
        delivered_at=None if r.delivered_at is None else from_ms(r.delivered_at),
        last_error=r.last_error,
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
        label: str | None = None,
    ) -> Webhook:
        """A new subscription; with a ``label`` that one of the account's subscriptions of
        this format has already, that one takes the new URL and events instead (its id and
        secret stay), in one transaction."""
        now = self._clock()
        async with writing(self._db) as conn:
            if label is not None:
                held = (
                    await conn.execute(
                        _WEBHOOKS.where(
                            _w.account_id == account_id, _w.format == format, _w.label == label
                        )
                    )
                ).first()
                if held is not None:
                    await conn.execute(
                        update(webhooks)
                        .where(_w.id == held.id)
                        .values(url=url, events=",".join(events))
                    )
                    return replace(_webhook(held), url=url, events=tuple(events))
            webhook_id = self._ids(now)
            await conn.execute(
                insert(webhooks).values(
                    id=webhook_id,
                    account_id=account_id,
                    url=url,
                    events=",".join(events),
                    secret=self._seal(secret),
                    created_at=now,
                    scope=scope,
                    format=format,
                    label=label,
                )
            )
        return Webhook(
            webhook_id,
            account_id,
            url,
            tuple(events),
            from_ms(now),
            scope=scope,
            format=format,
            secret=secret,
            label=label,
        )

    async def labelled(self, account_id: str, format: str, label: str) -> Webhook | None:
        """The account's subscription of this format under this label, if any."""
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    _WEBHOOKS.where(
                        _w.account_id == account_id, _w.format == format, _w.label == label
                    )
                )
            ).first()
        return None if row is None else _webhook(row)

    def _seal(self, secret: str) -> str:
        return self._box.seal(secret)

    def _open(self, stored: str) -> str:
        return self._box.open(stored)

    async def of_account(self, account_id: str, scope: str | None = None) -> list[Webhook]:
        query = _WEBHOOKS.where(_w.account_id == account_id)
        if scope is not None:
            query = query.where(_w.scope == scope)
        async with self._db.read() as conn:
            return [_webhook(r) for r in await conn.execute(query.order_by(_w.id))]

    async def find_target(
        self,
        account_id: str,
        url: str,
        events: Sequence[str],
        *,
        format: str = TEXTGATE,
        secret: str | None = None,
    ) -> str | None:
        """The oldest message-scoped target with exactly this URL, event list and format
        (and this secret, when one is asked for: secrets are sealed, so compared here)."""
        async with self._db.read() as conn:
            found = await conn.execute(
                select(_w.id, _w.secret)
                .where(
                    _w.scope == MESSAGE_SCOPE,
                    _w.account_id == account_id,
                    _w.url == url,
                    _w.events == ",".join(events),
                    _w.format == format,
                )
                .order_by(_w.id)
            )
            for row in found:
                if secret is None or hmac.compare_digest(self._open(row.secret), secret):
                    return str(row.id)
        return None

    async def set_secret(self, account_id: str, webhook_id: str, secret: str) -> Webhook:
        async with writing(self._db) as conn:
            await conn.execute(
                update(webhooks)
                .where(_w.id == webhook_id, _w.account_id == account_id)
                .values(secret=self._seal(secret))
            )
        found = await self.get(account_id, webhook_id)
        return replace(found, secret=secret)

    async def get(self, account_id: str, webhook_id: str) -> Webhook:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    _WEBHOOKS.where(_w.id == webhook_id, _w.account_id == account_id)
                )
            ).first()
        if row is None:
            raise NotFound(f"no webhook {webhook_id}")
        return _webhook(row)

    async def delete(self, account_id: str, webhook_id: str) -> None:
        """Remove a subscription and its queue (pending deliveries are not sent any more)."""
        async with writing(self._db) as conn:
            # Locked on PostgreSQL (on SQLite the write turn does it): a concurrent delete
            # waits and then finds nothing, and deliveries a feed is inserting for it
            # (which key-share locks the subscription) are committed first and go too.
            found = (
                await conn.execute(
                    select(_w.id)
                    .where(_w.id == webhook_id, _w.account_id == account_id)
                    .with_for_update()
                )
            ).first()
            if found is not None:
                await conn.execute(delete(webhook_deliveries).where(_d.webhook_id == webhook_id))
                await conn.execute(delete(webhooks).where(_w.id == webhook_id))
        if found is None:
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
        query = _DELIVERIES.select_from(_OWNED).where(
            _w.account_id == account_id, _d.webhook_id == webhook_id
        )
        if status is not None:
            query = query.where(_d.status == status)
        if before_id is not None:
            query = query.where(_d.id < before_id)
        async with self._db.read() as conn:
            rows = await conn.execute(query.order_by(_d.id.desc()).limit(int(limit)))
            return [_delivery(r) for r in rows]

    async def retry(self, account_id: str, delivery_id: str) -> WebhookDelivery:
        """Queue a delivery again, whatever its state (replaying a delivered one is allowed:
        receivers deduplicate on the event id). It gets a fresh set of attempts."""
        now = self._clock()
        async with writing(self._db) as conn:
            found = (
                await conn.execute(
                    select(_d.id)
                    .select_from(_OWNED)
                    .where(_w.account_id == account_id, _d.id == delivery_id)
                )
            ).first()
            row = None
            if found is not None:
                await _QUEUE.requeue(conn, delivery_id, now)
                row = (await conn.execute(_DELIVERIES.where(_d.id == delivery_id))).first()
        if row is None:
            raise NotFound(f"no webhook delivery {delivery_id}")
        return _delivery(row)

    async def claim(self, *, now: int, lease_ms: int, limit: int) -> list[DueDelivery]:
        # Background work: on SQLite it yields the write turn to what clients wait for.
        async with writing(self._db, urgent=False) as conn:
            rows = await _QUEUE.claim(
                conn,
                select(
                    _d.id, _d.event_id, _d.payload, _d.attempts, _w.url, _w.secret, _w.format
                ).select_from(_OWNED),
                now=now,
                lease_ms=lease_ms,
                limit=limit,
            )
        return [
            DueDelivery(
                r.id,
                r.event_id,
                r.payload,
                r.url,
                self._open(r.secret),
                r.attempts + 1,
                r.format,
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
            # Links of messages made before then: their events were fed long ago.
            await conn.execute(
                delete(message_targets).where(
                    message_targets.c.message_id < new_id(older_than_ms, bytes(10))
                )
            )
