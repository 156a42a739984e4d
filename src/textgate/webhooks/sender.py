"""The webhook sender: feeds the delivery queue from committed events and POSTs what is due.

Delivery is at least once: a delivery whose answer was lost (a timeout, a crash between
sending and recording) is sent again with the same event id, which receivers use to
deduplicate. Only a 2xx answer counts as delivered. Each send connects to the address the
target check approved (``services.webhooks.TargetChecker``), keeping the URL's name for the
``Host`` header and for TLS.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

import httpx

from textgate.config import WebhookSettings
from textgate.core.clock import Clock, system_clock
from textgate.core.webhook_formats import WebhookFormats
from textgate.core.webhooks import signature_header as make_signature
from textgate.errors import InvalidRequest
from textgate.loops import LoopRegistry
from textgate.services.outbox import Pump, Retries
from textgate.services.webhooks import TargetChecker
from textgate.storage.webhook_feed import WebhookFeed
from textgate.storage.webhooks import DueDelivery, WebhookRepo

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookDispatcher",
    "pinned",
]

EVENT_ID_HEADER = "Textgate-Event-Id"
TIMESTAMP_HEADER = "Textgate-Timestamp"
SIGNATURE_HEADER = "Textgate-Signature"


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL to request so that the connection goes to ``address``, with the headers
    and request extensions that keep the original name for the server (Host) and for TLS
    (server name indication and certificate check)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host_header = parts.netloc.rpartition("@")[2]
    target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return target, {"Host": host_header}, {"sni_hostname": host}


class WebhookDispatcher:
    """Three loops: the feed (event rows -> queued deliveries and mails), the sender, and
    the hourly purge of finished deliveries past their retention."""

    def __init__(
        self,
        repo: WebhookRepo,
        feed: WebhookFeed,
        settings: WebhookSettings,
        checker: TargetChecker,
        *,
        clock: Clock = system_clock,
        loops: LoopRegistry | None = None,
        formats: WebhookFormats | None = None,
    ) -> None:
        self._repo = repo
        self._formats = formats or WebhookFormats()
        self._feed = feed
        self._settings = settings
        self._check = checker
        self._clock = clock
        self._pump = Pump(settings.poll_seconds, loops)
        self._retries = Retries(settings, clock)
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        """The client, made at the first delivery: its TLS set-up (reading the trusted
        certificates, 25-80 ms) is not paid by a gateway that has no webhook to send."""
        if self._client is None:
            s = self._settings
            # No redirects: a redirect could lead to a target the URL check refused.
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(s.timeout_seconds),
                follow_redirects=False,
                limits=httpx.Limits(max_connections=s.concurrency),
            )
        return self._client

    async def start(self) -> None:
        self._pump.start(
            {"webhook-feed": self._feed_once, "webhook-send": self._send_once},
        )

    async def stop(self) -> None:
        await self._pump.stop()
        if self._client is not None:
            await self._client.aclose()

    async def _feed_once(self) -> bool:
        s = self._settings
        read = await self._feed.run_once(
            now=self._clock(),
            batch=s.batch_size * 5,
            gap_grace_ms=int(s.gap_grace_seconds * 1000),
            settle_ms=int(s.settle_seconds * 1000),
        )
        cutoff = self._retries.purge_due()
        if cutoff is not None:
            await self._repo.purge(cutoff)
        return read > 0

    async def _send_once(self) -> bool:
        s = self._settings
        due = await self._repo.claim(
            now=self._clock(), lease_ms=int(s.lease_seconds * 1000), limit=s.batch_size
        )
        if not due:
            return False
        gate = asyncio.Semaphore(s.concurrency)

        async def one(d: DueDelivery) -> str | None:
            async with gate:
                return await self._post(d)

        errors = await asyncio.gather(*(one(d) for d in due))
        outcomes = [
            self._retries.outcome(d.id, d.attempts, e) for d, e in zip(due, errors, strict=True)
        ]
        await self._repo.record(outcomes, now=self._clock())
        return True

    async def _post(self, d: DueDelivery) -> str | None:
        """None when the receiver took it, else what went wrong (never the secret)."""
        client = self._http()
        try:
            checked = await self._check(d.url)
        except InvalidRequest as exc:
            return f"target refused: {exc.message}"
        signer = self._formats.signer(d.format)
        if signer is not None:
            # A provider's format: its receivers check its signature, not textgate's.
            headers = {**signer(d.secret, d.url, d.payload), "User-Agent": "textgate-webhooks"}
        else:
            timestamp = self._clock() // 1000
            headers = {
                "Content-Type": "application/json",
                EVENT_ID_HEADER: d.event_id,
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: make_signature(d.secret, timestamp, d.payload),
                "User-Agent": "textgate-webhooks",
            }
        url, extensions = d.url, dict[str, str]()
        if checked.address is not None:
            url, host, extensions = pinned(d.url, checked.address)
            headers.update(host)
        try:
            response = await client.post(
                url, content=d.payload.encode(), headers=headers, extensions=extensions
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"
