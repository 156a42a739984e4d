"""Phones running the SMSGate app: registering them, what they pull and report, what they
receive, and managing them from the native API and the CLI.

The device API (``dialects.android``) and the android connector share this service's
:class:`WakeHub`: the connector publishes ``MessageEnqueued`` when it gives a phone a
message, the device API streams it to the phone.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from textgate.connectors.android.hub import EventStream, WakeHub
from textgate.connectors.base import Submission
from textgate.core.accounts import hash_secret
from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.devices import (
    Device,
    DeviceEvent,
    DeviceMessage,
    EventName,
    Outgoing,
    PhoneReport,
    Placement,
    PlacementRules,
    SimCard,
    Swept,
    nanoid,
)
from textgate.core.inbound import InboundMessage, Keywords
from textgate.core.numbers import country_of
from textgate.core.passwords import hash_password, verify_password
from textgate.errors import AuthenticationFailed, Conflict, Forbidden, InvalidRequest
from textgate.services.accounts import AccountService
from textgate.services.login_limiter import LoginLimiter
from textgate.services.phone_signature import phone_signature
from textgate.storage.credentials import CredentialRepo
from textgate.storage.device_queue import DeviceQueue
from textgate.storage.devices import DeviceRepo, NewDevice
from textgate.storage.inbound import InboundRepo

__all__ = [
    "DeviceOutboxService",
    "DeviceService",
    "PhoneCounts",
    "Registration",
    "RegistrationAuth",
]

# The vendor's minimum for a new password (spec section 2, PATCH /user/password).
MIN_PASSWORD_LENGTH = 14
INBOUND_CONNECTOR = "android"
"""The connector name inbound messages from phones are stored under."""


@dataclass(frozen=True, slots=True)
class RegistrationAuth:
    """How a phone proved it may join an account (spec section 1, POST /device)."""

    private_token: str | None = None
    """``Bearer``: the account's private token, which is one of its API keys."""
    login: str | None = None
    password: str | None = None
    """``Basic``: a device login of the account, or the account's own username."""
    client_ip: str | None = None
    """Where the phone signed in from: failed sign-ins are counted per login and address."""


@dataclass(frozen=True, slots=True)
class Registration:
    device: Device
    token: str
    login: str
    password: str | None
    """Shown once; None when the phone signed in with an existing login (as the vendor)."""


class PhoneCounts(Protocol):
    """Where phones' reports are counted for metrics (``observability.counts``)."""

    def phone_result(self, state: str) -> None: ...


class DeviceService:
    def __init__(
        self,
        devices: DeviceRepo,
        queue: DeviceQueue,
        accounts: AccountService,
        logins: CredentialRepo,
        inbound: InboundRepo,
        hub: WakeHub,
        *,
        limiter: LoginLimiter,
        keywords: Keywords | None = None,
        signature_skew_seconds: float = 3600.0,
        clock: Clock = system_clock,
        counts: PhoneCounts | None = None,
    ) -> None:
        self._counts = counts
        self._devices = devices
        self._queue = queue
        self._accounts = accounts
        self._logins = logins
        self._inbound = inbound
        self.hub = hub
        self._keywords = keywords or Keywords()
        self._skew_ms = int(signature_skew_seconds * 1000)
        self._clock = clock
        # Failed sign-ins count against the budgets every login shares.
        self._limiter = limiter

    # --- the phone's side ------------------------------------------------------------

    async def register(
        self,
        auth: RegistrationAuth,
        name: str,
        *,
        push_token: str | None,
        sim_cards: Sequence[SimCard],
    ) -> Registration:
        account_id, shown_login = await self._registrant(auth)
        token = nanoid()
        password = nanoid()[7:].lower()
        password_hash = await asyncio.to_thread(hash_password, password)
        for _ in range(5):
            # Logins are short (the vendor's six characters), so a clash is possible.
            login = nanoid(6).upper()
            try:
                device = await self._devices.add(
                    NewDevice(
                        id=nanoid(),
                        account_id=account_id,
                        name=name,
                        token_hash=hash_secret(token),
                        login=login,
                        password_hash=password_hash,
                        signing_key=secrets.token_urlsafe(24),
                        push_token=push_token,
                        sim_cards=sim_cards,
                    )
                )
            except Conflict:
                continue
            if shown_login is not None:
                return Registration(device, token, shown_login, None)
            return Registration(device, token, login, password)
        raise Conflict("could not pick a free device login; try again")

    async def _registrant(self, auth: RegistrationAuth) -> tuple[str, str | None]:
        """The account joined, and the login to show when one signed in."""
        if auth.login is not None:
            login, password = auth.login, auth.password or ""
            account_id = await self._limiter.attempt(
                login, auth.client_ip, lambda: self._sign_in(login, password)
            )
            return account_id, login
        if auth.private_token:
            try:
                return (await self._accounts.authenticate(auth.private_token)).id, None
            except AuthenticationFailed as exc:
                raise AuthenticationFailed("invalid private token") from exc
        raise AuthenticationFailed("registration needs the account's private token")

    async def account_of_login(self, login: str, password: str, client_ip: str | None) -> str:
        """The account a device login (or the account's username) and password sign in
        to, failed attempts counted as a registration's (the vendor's API clients)."""
        return await self._limiter.attempt(login, client_ip, lambda: self._sign_in(login, password))

    async def _sign_in(self, login: str, password: str) -> str:
        """The account of a device login (or the account's own username) and password."""
        stored = await self._devices.login(login)
        if stored is None:
            found = await self._logins.login(login)
            stored_hash = None if found is None else found[1]
            account_id = None if found is None else found[0]
        else:
            stored_hash, account_id = stored.password_hash, stored.account_id
        ok = await asyncio.to_thread(verify_password, password, stored_hash)
        if not ok or account_id is None:
            raise AuthenticationFailed("wrong login or password")
        return account_id

    async def authenticate(self, token: str | None) -> Device:
        """The device a Bearer token belongs to; unknown tokens fail (the app re-registers
        only on 401, spec section 1)."""
        found = None if not token else await self._devices.by_token(hash_secret(token))
        if found is None:
            raise AuthenticationFailed("unknown device token")
        return found

    async def update(
        self,
        device: Device,
        claimed_id: str,
        *,
        push_token: str | None,
        sim_cards: Sequence[SimCard] | None,
    ) -> None:
        if claimed_id != device.id:
            raise Forbidden("the id is not this device's")
        await self._devices.update_from_phone(device.id, push_token=push_token, sim_cards=sim_cards)

    async def change_password(self, device: Device, current: str, new: str) -> None:
        """The app's "change password" (spec section 2, PATCH /user/password): the login
        the device got at registration gets a new password of at least 14 characters."""
        stored = await self._devices.password_hash(device.id)
        if not await asyncio.to_thread(verify_password, current, stored):
            raise AuthenticationFailed("wrong current password")
        if len(new) < MIN_PASSWORD_LENGTH:
            raise InvalidRequest(f"the new password needs {MIN_PASSWORD_LENGTH} characters")
        await self._devices.set_password_hash(
            device.id, await asyncio.to_thread(hash_password, new)
        )

    async def pull(self, device: Device, *, fifo: bool) -> list[DeviceMessage]:
        return await self._queue.pull(device.id, fifo=fifo)

    async def report(self, device: Device, items: Sequence[PhoneReport]) -> None:
        if items:
            await self._queue.report(device.id, items)
            if self._counts is not None:
                for item in items:
                    for recipient in item.recipients:
                        self._counts.phone_result(recipient.state.value)

    async def signing_key(self, device_id: str) -> str:
        found = await self._devices.signing_key(device_id)
        if found is None:
            raise AuthenticationFailed("unknown device")
        return found[1]

    async def check_signature(
        self,
        device_id: str,
        read_body: Callable[[], Awaitable[bytes]],
        timestamp: str | None,
        signature: str | None,
    ) -> tuple[Device, bytes]:
        """The device a signed webhook came from, and the body: ``X-Signature`` is hex
        HMAC-SHA256 of the body followed by ``X-Timestamp`` (Unix seconds), keyed with the
        signing key the device got from GET /settings (spec section 4).

        Anyone may call the webhook, so everything that can be checked without the body
        (a known device, both headers, a fresh timestamp) is checked before ``read_body``
        (which caps what it reads) is called."""
        if not timestamp or not signature:
            raise AuthenticationFailed("unsigned webhook")
        try:
            stamp_ms = int(timestamp) * 1000
        except ValueError as exc:
            raise AuthenticationFailed("bad timestamp") from exc
        if abs(self._clock() - stamp_ms) > self._skew_ms:
            raise AuthenticationFailed("timestamp too far from now")
        found = await self._devices.signing_key(device_id)
        if found is None:
            raise AuthenticationFailed("unknown device")
        device, key = found
        body = await read_body()
        expected = phone_signature(key, body, timestamp)
        given = signature.strip().lower().encode("utf-8", "replace")
        if not hmac.compare_digest(expected.encode(), given):
            raise AuthenticationFailed("bad signature")
        return device, body

    async def receive(self, device: Device, items: Sequence[InboundMessage]) -> None:
        """Store SMS the phone received, owned by the phone's account. A webhook the phone
        sends again (our answer was lost) is stored once."""
        fresh = [
            i
            for i in items
            if i.external_id is None
            or not await self._queue.seen_inbound(i.connector, i.recipient, i.external_id)
        ]
        if fresh:
            account_id = device.account_id
            await self._inbound.store(fresh, lambda _recipient: account_id, self._keywords)

    async def touch(self, device: Device) -> None:
        await self._devices.touch(device.id)

    async def has_pending(self, device: Device) -> bool:
        return await self._queue.has_pending(device.id)

    @contextmanager
    def events(self, device: Device) -> Iterator[EventStream]:
        with self.hub.subscribe(device.id) as stream:
            yield stream

    # --- managing devices (native API, CLI) -------------------------------------------

    async def of_account(self, account_id: str) -> list[Device]:
        return await self._devices.of_account(account_id)

    async def dialing_country(self, account_id: str, device_id: str | None = None) -> str | None:
        """The country the account's phones (``device_id``: that one) dial from, known
        from their own numbers when all of them share one; else None."""
        countries = {
            country_of(d.phone_number)
            for d in await self._devices.of_account(account_id)
            if d.phone_number and (device_id is None or d.id == device_id)
        }
        return countries.pop() if len(countries) == 1 else None

    async def any_online(
        self, account_id: str, device_id: str | None = None, *, within: timedelta | None = None
    ) -> bool:
        """Whether one of the account's phones (``device_id``: that one) would take a
        message now: connected to its event stream, or seen within ``within`` (default: the
        default offline time; connectors may set their own: this answers what interfaces
        tell a client, not where a message goes)."""
        connected = self.hub.connected()
        seen_after = from_ms(self._clock()) - (
            within or timedelta(seconds=PlacementRules().offline_after_seconds)
        )
        return any(
            d.id in connected or d.last_seen_at >= seen_after
            for d in await self._devices.of_account(account_id)
            if device_id is None or d.id == device_id
        )

    async def get(self, account_id: str, device_id: str) -> Device:
        return await self._devices.get(account_id, device_id)

    async def set_labels(
        self,
        account_id: str,
        device_id: str,
        *,
        label: str | None = None,
        phone_number: str | None = None,
    ) -> Device:
        """Set a label or phone number; an empty string clears it."""
        if phone_number and not phone_number.lstrip("+").isdigit():
            raise InvalidRequest("a phone number has digits only, with an optional leading '+'")
        return await self._devices.set_labels(
            account_id,
            device_id,
            label=label,
            phone_number=phone_number,
            clear_label=label == "",
            clear_phone_number=phone_number == "",
        )

    async def delete(self, account_id: str, device_id: str) -> None:
        """Forget a device: its token stops working at once and its open event stream ends;
        the messages it has not pulled fail over (android connector's ``failover``), those
        pinned to it fail, and those it pulled wait for their validity to end."""
        await self._queue.delete_device(account_id, device_id)
        self.hub.close(device_id)

    async def cancel(self, account_id: str, message_id: str) -> str:
        """Ask the phone to cancel a message it has not started on; the message becomes
        ``cancelled`` when the phone confirms. Returns the device's id."""
        device_id, external_id = await self._queue.cancel(account_id, message_id)
        self.hub.publish(
            device_id,
            DeviceEvent(EventName.MESSAGE_CANCELLED, (("messageId", external_id),)),
        )
        # A phone that has not pulled it yet learns of it from its next pull.
        self.hub.publish(device_id, DeviceEvent(EventName.MESSAGE_ENQUEUED))
        return device_id

    async def refresh(self, account_id: str, device_id: str) -> bool:
        """Tell the phone to fetch its webhooks and settings again; whether it listens."""
        await self._devices.get(account_id, device_id)
        woke = self.hub.publish(device_id, DeviceEvent(EventName.WEBHOOKS_UPDATED))
        self.hub.publish(device_id, DeviceEvent(EventName.SETTINGS_UPDATED))
        return woke


class DeviceOutboxService:
    """The android connector's :class:`~textgate.connectors.android.outbox.DeviceOutbox`."""

    def __init__(self, queue: DeviceQueue) -> None:
        self._queue = queue

    async def place(
        self,
        connector: str,
        batch: Sequence[Submission],
        rules: PlacementRules,
        connected: frozenset[str],
    ) -> list[Placement]:
        items = [Outgoing(s.message_id, s.recipient, s.sender, s.text) for s in batch]
        return await self._queue.place(connector, items, rules, connected)

    async def sweep(
        self, connector: str, rules: PlacementRules, connected: frozenset[str]
    ) -> Swept:
        return await self._queue.sweep(connector, rules, connected)
