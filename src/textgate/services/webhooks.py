"""Webhooks: subscriptions (with their URL checks) and the dispatcher that feeds and sends.

Delivery is at least once: a delivery whose answer was lost (a timeout, a crash between
sending and recording) is sent again with the same event id, which receivers use to
deduplicate. Only a 2xx answer counts as delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

import httpx

from textgate.config import WebhookSettings
from textgate.core.clock import Clock, system_clock
from textgate.core.webhooks import EVENT_TYPES, Webhook, WebhookDelivery, backoff_ms
from textgate.core.webhooks import signature_header as make_signature
from textgate.errors import InvalidRequest
from textgate.storage.webhook_feed import WebhookFeed
from textgate.storage.webhooks import DueDelivery, Outcome, WebhookRepo

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookDispatcher",
    "WebhookService",
    "check_target",
]

log = logging.getLogger(__name__)

EVENT_ID_HEADER = "Textgate-Event-Id"
TIMESTAMP_HEADER = "Textgate-Timestamp"
SIGNATURE_HEADER = "Textgate-Signature"
DELIVERY_STATUSES = ("pending", "delivered", "dead")


async def check_target(url: str, settings: WebhookSettings) -> None:
    """Refuse URLs that are not http(s) or that resolve to an address inside the operator's
    network (loopback, private, link-local and the like) unless the operator allows them.

    Called when a subscription is made and again before every send, since what a name
    resolves to can change after it was accepted.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("url: an absolute http or https URL is required")
    if parts.username or parts.password:
        raise InvalidRequest("url: credentials in the URL are not accepted")
    if settings.allow_private_targets:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidRequest("url: invalid port") from exc
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM),
            settings.resolve_timeout_seconds,
        )
    except (OSError, TimeoutError) as exc:
        raise InvalidRequest(f"url: cannot resolve {parts.hostname}") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global or address.is_multicast:
            raise InvalidRequest(
                f"url: {parts.hostname} resolves to a non-public address ({address})"
            )


class WebhookService:
    """Subscriptions, as the API sees them."""

    def __init__(self, repo: WebhookRepo, settings: WebhookSettings) -> None:
        self._repo = repo
        self._settings = settings

    async def create(
        self, account_id: str, url: str, events: Sequence[str], secret: str | None
    ) -> Webhook:
        """The returned object carries the secret: the only time it is shown."""
        unknown = sorted(set(events) - EVENT_TYPES)
        if not events or unknown:
            raise InvalidRequest(
                f"events: unknown {', '.join(unknown)}" if unknown else "events: at least one"
            )
        await check_target(url, self._settings)
        chosen = secret if secret is not None else "whsec_" + secrets.token_urlsafe(32)
        return await self._repo.create(account_id, url, list(dict.fromkeys(events)), chosen)

    async def of_account(self, account_id: str) -> list[Webhook]:
        return await self._repo.of_account(account_id)

    async def get(self, account_id: str, webhook_id: str) -> Webhook:
        return await self._repo.get(account_id, webhook_id)

    async def delete(self, account_id: str, webhook_id: str) -> None:
        await self._repo.delete(account_id, webhook_id)

    async def deliveries(
        self,
        account_id: str,
        webhook_id: str,
        *,
        status: str | None = None,
        before_id: str | None = None,
        limit: int = 100,
    ) -> list[WebhookDelivery]:
        if status is not None and status not in DELIVERY_STATUSES:
            raise InvalidRequest(f"status: one of {', '.join(DELIVERY_STATUSES)}")
        return await self._repo.deliveries(
            account_id, webhook_id, status=status, before_id=before_id, limit=limit
        )

    async def retry(self, account_id: str, delivery_id: str) -> WebhookDelivery:
        return await self._repo.retry(account_id, delivery_id)


class WebhookDispatcher:
    """Two loops: the feed (event rows -> queued deliveries) and the sender."""

    def __init__(
        self,
        repo: WebhookRepo,
        feed: WebhookFeed,
        settings: WebhookSettings,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self._repo = repo
        self._feed = feed
        self._settings = settings
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self._random = random.Random()

    async def start(self) -> None:
        s = self._settings
        # No redirects: a redirect could lead to a target the URL check refused.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(s.timeout_seconds),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=s.concurrency),
        )
        self._tasks = [
            asyncio.create_task(self._loop(self._feed_once), name="webhook-feed"),
            asyncio.create_task(self._loop(self._send_once), name="webhook-send"),
        ]

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()

    async def _loop(self, step: Callable[[], Awaitable[bool]]) -> None:
        while not self._stopping.is_set():
            busy = False
            try:
                busy = await step()
            except Exception:
                # The queue is in the database: whatever failed is picked up next time.
                log.exception("webhook %s pass failed", getattr(step, "__name__", "?"))
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._settings.poll_seconds)

    async def _feed_once(self) -> bool:
        s = self._settings
        read = await self._feed.run_once(
            now=self._clock(),
            batch=s.batch_size * 5,
            gap_grace_ms=int(s.gap_grace_seconds * 1000),
            settle_ms=int(s.settle_seconds * 1000),
        )
        return read > 0

    async def _send_once(self) -> bool:
        s = self._settings
        due = await self._repo.claim(
            now=self._clock(), lease_ms=int(s.lease_seconds * 1000), limit=s.batch_size
        )
        if not due:
            return False
        gate = asyncio.Semaphore(s.concurrency)

        async def one(d: DueDelivery) -> Outcome:
            async with gate:
                return self._outcome(d, await self._post(d))

        outcomes = await asyncio.gather(*(one(d) for d in due))
        await self._repo.record(outcomes, now=self._clock())
        return True

    async def _post(self, d: DueDelivery) -> str | None:
        """None when the receiver took it, else what went wrong (never the secret)."""
        assert self._client is not None
        try:
            await check_target(d.url, self._settings)
        except InvalidRequest as exc:
            return f"target refused: {exc.message}"
        timestamp = self._clock() // 1000
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: d.event_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: make_signature(d.secret, timestamp, d.payload),
            "User-Agent": "textgate-webhooks",
        }
        try:
            response = await self._client.post(d.url, content=d.payload.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    def _outcome(self, d: DueDelivery, error: str | None) -> Outcome:
        s = self._settings
        if error is None:
            return Outcome(d, None)
        if d.attempts >= s.max_attempts:
            return Outcome(d, error, None)
        delay = backoff_ms(
            d.attempts,
            base_ms=int(s.retry_base_seconds * 1000),
            max_ms=int(s.retry_max_seconds * 1000),
            jitter=self._random.random(),
        )
        return Outcome(d, error, self._clock() + delay)
