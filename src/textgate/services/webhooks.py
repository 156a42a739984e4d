"""Webhook subscriptions and notification targets, and the check every target URL passes.

Targets are checked when they are made and again before every send (``webhooks.sender``),
which then connects to the very address that was checked, so a name that resolves to a
public address at the check and to an internal one a moment later (DNS rebinding) cannot
steer a webhook into the operator's network.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from textgate.config import WebhookSettings
from textgate.core.mail import mail_address
from textgate.core.paging import Page, page_size
from textgate.core.webhook_formats import TEXTGATE, WebhookFormats
from textgate.core.webhooks import EVENT_TYPES, MAILTO, Webhook, WebhookDelivery
from textgate.errors import InvalidRequest
from textgate.storage.webhooks import ACCOUNT_SCOPE, MESSAGE_SCOPE, WebhookRepo

__all__ = ["ACCOUNT_SCOPE", "MESSAGE_SCOPE", "Checked", "TargetChecker", "WebhookService"]

DELIVERY_STATUSES = ("pending", "delivered", "dead")
MAX_PAGE = 1000
SCOPES = (ACCOUNT_SCOPE, MESSAGE_SCOPE)
CALLBACK_EVENTS = ("message.*",)
"""What a submit's ``callback_url`` hears: every status change of its messages."""

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]).split("%")[0] for info in infos]


def public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True, slots=True)
class Checked:
    url: str
    address: str | None
    """The address to connect to; None when the operator allows any target (then the
    name is resolved as usual when connecting)."""


class TargetChecker:
    """Refuses URLs that are not http(s) or mailto:, and http URLs whose name resolves to an
    address inside the operator's network (loopback, private, link-local and the like)
    unless the operator allows them."""

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        resolver: Resolver = system_resolver,
        allowed: Callable[[str], bool] = public_address,
    ) -> None:
        self._settings = settings
        self._resolve = resolver
        self._allowed = allowed

    async def __call__(self, url: str) -> Checked:
        if url.startswith(MAILTO):
            mail_address(url.removeprefix(MAILTO), "url")
            return Checked(url, None)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRequest("url: an absolute http(s) URL or a mailto: address is required")
        if parts.username or parts.password:
            raise InvalidRequest("url: credentials in the URL are not accepted")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise InvalidRequest("url: invalid port") from exc
        if self._settings.allow_private_targets:
            return Checked(url, None)
        try:
            addresses = await asyncio.wait_for(
                self._resolve(parts.hostname, port), self._settings.resolve_timeout_seconds
            )
        except (OSError, TimeoutError) as exc:
            raise InvalidRequest(f"url: cannot resolve {parts.hostname}") from exc
        if not addresses:
            raise InvalidRequest(f"url: cannot resolve {parts.hostname}")
        for address in addresses:
            if not self._allowed(address):
                raise InvalidRequest(
                    f"url: {parts.hostname} resolves to a non-public address ({address})"
                )
        return Checked(url, addresses[0])


class WebhookService:
    """Subscriptions and message-scoped targets, as the API and the submit path see them."""

    def __init__(
        self,
        repo: WebhookRepo,
        checker: TargetChecker,
        *,
        cache_seconds: float = 60.0,
        formats: WebhookFormats | None = None,
    ) -> None:
        """``formats``: the payload formats a subscription may name (textgate's own only
        when none are given)."""
        self._repo = repo
        self._formats = (formats or WebhookFormats()).names
        self._check = checker
        self._cache_seconds = cache_seconds
        self._targets: dict[
            tuple[str, str, tuple[str, ...], str, str | None], tuple[str, float]
        ] = {}

    async def create(
        self,
        account_id: str,
        url: str,
        events: Sequence[str],
        secret: str | None,
        *,
        scope: str = ACCOUNT_SCOPE,
        format: str = TEXTGATE,
        label: str | None = None,
    ) -> Webhook:
        """The returned object carries the secret: the only time it is shown. ``format`` is
        the payload shape (core.webhook_formats). ``label``: the client's own name for the
        subscription; made again under the same label (and format), the subscription
        already there takes the new URL and events, keeping its id and secret (the object
        returned then carries no secret)."""
        unknown = sorted(set(events) - EVENT_TYPES)
        if not events or unknown:
            raise InvalidRequest(
                f"events: unknown {', '.join(unknown)}" if unknown else "events: at least one"
            )
        if scope not in SCOPES:
            raise InvalidRequest(f"scope: one of {', '.join(SCOPES)}")
        if format not in self._formats:
            raise InvalidRequest(f"format: one of {', '.join(sorted(self._formats))}")
        await self._check(url)
        chosen = secret if secret is not None else _new_secret()
        return await self._repo.create(
            account_id,
            url,
            list(dict.fromkeys(events)),
            chosen,
            scope=scope,
            format=format,
            label=label,
        )

    async def labelled(self, account_id: str, format: str, label: str) -> Webhook | None:
        return await self._repo.labelled(account_id, format, label)

    async def message_target(
        self,
        account_id: str,
        url: str,
        events: Sequence[str],
        format: str = TEXTGATE,
        secret: str | None = None,
    ) -> str:
        """The message-scoped target for this URL, event list and payload format, made on
        first use: with ``secret`` as its signing secret (a format signed with the
        client's own credential), else a generated one the account can rotate to learn.
        Cached: submits repeat it."""
        key = (account_id, url, tuple(events), format, _fingerprint(secret))
        cached = self._targets.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        found = await self._repo.find_target(account_id, url, events, format=format, secret=secret)
        if found is None:
            made = await self.create(
                account_id, url, events, secret, scope=MESSAGE_SCOPE, format=format
            )
            found = made.id
        if len(self._targets) > 10_000:
            self._targets.clear()
        self._targets[key] = (found, time.monotonic() + self._cache_seconds)
        return found

    async def callback_target(self, account_id: str, url: str) -> str:
        return await self.message_target(account_id, url, CALLBACK_EVENTS)

    async def of_account(self, account_id: str, scope: str | None = None) -> list[Webhook]:
        return await self._repo.of_account(account_id, scope)

    async def get(self, account_id: str, webhook_id: str) -> Webhook:
        return await self._repo.get(account_id, webhook_id)

    async def rotate_secret(self, account_id: str, webhook_id: str) -> Webhook:
        return await self._repo.set_secret(account_id, webhook_id, _new_secret())

    async def delete(self, account_id: str, webhook_id: str) -> None:
        await self._repo.delete(account_id, webhook_id)
        self._targets = {k: v for k, v in self._targets.items() if v[0] != webhook_id}

    async def deliveries(
        self,
        account_id: str,
        webhook_id: str,
        *,
        status: str | None = None,
        before_id: str | None = None,
        limit: int = 100,
    ) -> Page[WebhookDelivery]:
        """Up to ``limit`` deliveries (at most ``MAX_PAGE``), newest first, and the
        ``before_id`` of the next page."""
        if status is not None and status not in DELIVERY_STATUSES:
            raise InvalidRequest(f"status: one of {', '.join(DELIVERY_STATUSES)}")
        size = page_size(limit, MAX_PAGE)
        rows = await self._repo.deliveries(
            account_id, webhook_id, status=status, before_id=before_id, limit=size + 1
        )
        return Page.cut(rows, size, lambda d: d.id)

    async def retry(self, account_id: str, delivery_id: str) -> WebhookDelivery:
        return await self._repo.retry(account_id, delivery_id)


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _fingerprint(secret: str | None) -> str | None:
    """What the target cache keys a secret by: never the secret itself."""
    if secret is None:
        return None
    return hashlib.blake2b(secret.encode(), digest_size=16).hexdigest()
