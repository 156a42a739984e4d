"""A phone running the SMSGate app, emulated over HTTP: the app's side of the device API.

It does what spec ``android-device-api.md`` says the app does: registers (POST /device, or
PATCH /device with a stored token, registering again on 401), fetches settings and
webhooks, keeps GET /events open and pulls on every connect and ``MessageEnqueued``, sends
the messages it pulls (pretend: the outcome is configured) reporting each state change with
PATCH /message, honours cancellations, and posts the SMS it "receives" as signed
``sms:received`` webhooks. For development and end-to-end tests; it needs no phone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

import httpx

__all__ = ["LocalMessage", "PhoneConfig", "PhoneEmulator", "Registration"]

Outcome = Literal["delivered", "sent", "failed", "hold"]
# What the app writes when SmsManager refuses a message (spec section 4).
SEND_FAILURE = "Send result: RESULT_ERROR_GENERIC_FAILURE"


@dataclass
class Registration:
    id: str
    token: str
    login: str
    password: str | None = None


@dataclass
class PhoneConfig:
    base_url: str
    """The app's "API URL": the server's device API, e.g. http://127.0.0.1:8080/mobile/v1."""
    private_token: str | None = None
    login: str | None = None
    password: str | None = None
    name: str = "textgate/emulator"
    sim_cards: list[dict[str, Any]] = field(
        default_factory=lambda: [{"slotIndex": 0, "simNumber": 1, "phoneNumber": "********0001"}]
    )
    outcome: Outcome = "delivered"
    """What happens to each message: delivered, only sent, failed, or held (left pending
    on the phone until :meth:`PhoneEmulator.release`)."""
    own_number: str = "+10000000001"
    """The number this phone's SIM answers to (the recipient of SMS it receives)."""
    utc_offset_minutes: int = 180
    """The phone's time zone: the app writes local times with their offset."""
    timeout_seconds: float = 10.0
    reconnect_seconds: float = 1.0
    registration: Registration | None = None


@dataclass
class LocalMessage:
    id: str
    phone_numbers: list[str]
    text: str
    state: str = "Pending"
    sim_number: int | None = None
    priority: int = 0
    states: dict[str, str] = field(default_factory=dict)


class PhoneEmulator:
    def __init__(
        self, config: PhoneConfig, *, on_line: Callable[[str], None] | None = None
    ) -> None:
        self.config = config
        self.registration = config.registration
        self.messages: dict[str, LocalMessage] = {}
        self.webhooks: list[dict[str, Any]] = []
        self.settings: dict[str, Any] = {}
        self.events: list[str] = []
        self.subscribed = asyncio.Event()
        self._on_line = on_line or (lambda _line: None)
        self._changed = asyncio.Condition()
        self._pull_lock = asyncio.Lock()
        self._client = httpx.AsyncClient(
            base_url=config.base_url.rstrip("/"), timeout=config.timeout_seconds
        )
        self._tz = timezone(timedelta(minutes=config.utc_offset_minutes))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> PhoneEmulator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _say(self, line: str) -> None:
        self._on_line(line)

    def _auth(self) -> dict[str, str]:
        assert self.registration is not None, "register first"
        return {"Authorization": f"Bearer {self.registration.token}"}

    def _now(self) -> str:
        """``yyyy-MM-dd'T'HH:mm:ss.SSSXXX`` in the phone's zone, as the app's Gson writes."""
        now = datetime.now(self._tz)
        return (
            now.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{now.microsecond // 1000:03d}"
            + (now.strftime("%z")[:3] + ":" + now.strftime("%z")[3:])
        )

    # --- registration, settings, webhooks ------------------------------------------

    async def register(self) -> Registration:
        """PATCH /device with a stored token; a 401 (or no token) registers anew."""
        if self.registration is not None:
            body = {"id": self.registration.id, "simCards": self.config.sim_cards}
            answer = await self._client.patch("/device", json=body, headers=self._auth())
            if answer.status_code != 401:
                answer.raise_for_status()
                self._say(f"updated {self.registration.id}")
                return self.registration
            self._say("token refused (401); registering again")
        headers: dict[str, str] = {}
        if self.config.login is not None:
            creds = httpx.BasicAuth(self.config.login, self.config.password or "")
            answer = await self._client.post("/device", json=self._register_body(), auth=creds)
        else:
            if self.config.private_token:
                headers["Authorization"] = f"Bearer {self.config.private_token}"
            answer = await self._client.post("/device", json=self._register_body(), headers=headers)
        answer.raise_for_status()
        got = answer.json()
        self.registration = Registration(got["id"], got["token"], got["login"], got.get("password"))
        self._say(f"registered {got['id']} login={got['login']}")
        return self.registration

    def _register_body(self) -> dict[str, Any]:
        return {"name": self.config.name, "simCards": self.config.sim_cards}

    async def sync(self) -> None:
        """GET /settings and GET /webhooks, as the app does at start."""
        answer = await self._client.get("/settings", headers=self._auth())
        answer.raise_for_status()
        self.settings = answer.json()
        answer = await self._client.get("/webhooks", headers=self._auth())
        answer.raise_for_status()
        self.webhooks = answer.json()

    def _signing_key(self) -> str:
        key = self.settings.get("webhooks", {}).get("signing_key")
        if not key:
            # Without one the app makes up a random 8-character key (spec section 4).
            key = secrets.token_hex(4)
            self.settings.setdefault("webhooks", {})["signing_key"] = key
        return str(key)

    # --- events ----------------------------------------------------------------------

    async def listen(self, stop: asyncio.Event) -> None:
        """Keep GET /events open until ``stop``; reconnect after a failure."""
        while not stop.is_set():
            try:
                await self._stream(stop)
            except (httpx.HTTPError, OSError) as exc:
                self._say(f"event stream lost: {type(exc).__name__}")
            self.subscribed.clear()
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.config.reconnect_seconds)

    async def _stream(self, stop: asyncio.Event) -> None:
        timeout = httpx.Timeout(self.config.timeout_seconds, read=3600.0)
        async with self._client.stream(
            "GET", "/events", headers=self._auth(), timeout=timeout
        ) as answer:
            if answer.status_code == 401:
                self._say("event stream refused (401)")
                await self.register()
                return
            answer.raise_for_status()
            reading = asyncio.create_task(self._read_frames(answer))
            stopping = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (reading, stopping):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if reading.done() and not reading.cancelled() and reading.exception():
                raise reading.exception()  # type: ignore[misc]

    async def _read_frames(self, answer: httpx.Response) -> None:
        name: str | None = None
        data: str | None = None
        async for line in answer.aiter_lines():
            if not self.subscribed.is_set():
                self.subscribed.set()
                self._say("connected")
                await self.pull()  # the app pulls on every (re)connect
            if line.startswith(":"):
                continue
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
            elif line == "" and data is not None:
                # A frame without a name counts as MessageEnqueued (spec section 2).
                await self._on_event(name or "MessageEnqueued", data)
                name = data = None

    async def _on_event(self, name: str, data: str) -> None:
        self.events.append(name)
        self._say(f"event {name}")
        if name == "MessageEnqueued":
            await self.pull()
        elif name == "WebhooksUpdated" or name == "SettingsUpdated":
            await self.sync()
        elif name == "MessageCancelled":
            message_id = (json.loads(data) or {}).get("messageId")
            local = self.messages.get(message_id or "")
            if local is not None and local.state == "Pending":
                await self._move(local, "Cancelled")
        await self._notify()

    # --- messages --------------------------------------------------------------------

    async def pull(self) -> list[str]:
        """GET /message and handle each message as the app does; returns their ids."""
        async with self._pull_lock:
            answer = await self._client.get(
                "/message", params={"order": "fifo"}, headers=self._auth()
            )
            answer.raise_for_status()
            items: list[dict[str, Any]] = answer.json()
            for item in items:
                await self._handle(item)
        await self._notify()
        return [i["id"] for i in items]

    async def _handle(self, item: dict[str, Any]) -> None:
        known = self.messages.get(item["id"])
        if item.get("state") == "Cancelling":
            if known is None:
                numbers = list(item.get("phoneNumbers", []))
                local = LocalMessage(item["id"], numbers, _text(item))
                self.messages[local.id] = local
                await self._move(local, "Cancelled")
            elif known.state == "Pending":
                await self._move(known, "Cancelled")
            return
        if known is not None:
            if known.state != "Pending":
                await self._report(known)  # the app re-sends a state the server missed
            return
        local = LocalMessage(
            item["id"],
            list(item["phoneNumbers"]),
            _text(item),
            sim_number=item.get("simNumber"),
            priority=item.get("priority", 0),
        )
        local.states["Pending"] = self._now()
        self.messages[local.id] = local
        self._say(f"message {local.id} to {','.join(local.phone_numbers)} sim={local.sim_number}")
        valid_until = item.get("validUntil")
        if valid_until and datetime.fromisoformat(valid_until.replace("Z", "+00:00")) < (
            datetime.now(UTC)
        ):
            await self._move(local, "Failed", "TTL expired")
            return
        if self.config.outcome != "hold":
            await self._send(local)

    async def release(self, message_id: str) -> None:
        """Send a held message now (with the configured outcome; ``hold`` delivers)."""
        await self._send(self.messages[message_id])
        await self._notify()

    async def _send(self, local: LocalMessage) -> None:
        outcome = self.config.outcome
        await self._move(local, "Processed")
        if outcome == "failed":
            await self._move(local, "Failed", SEND_FAILURE)
            return
        await self._move(local, "Sent")
        if outcome != "sent":
            await self._move(local, "Delivered")

    async def _move(self, local: LocalMessage, state: str, error: str | None = None) -> None:
        local.state = state
        local.states[state] = self._now()
        await self._report(local, error)
        self._say(f"state {local.id} {state}")

    async def _report(self, local: LocalMessage, error: str | None = None) -> None:
        recipients = []
        for number in local.phone_numbers:
            r: dict[str, Any] = {"phoneNumber": number, "state": local.state}
            if error:
                r["error"] = error
            recipients.append(r)
        body = [
            {
                "id": local.id,
                "state": local.state,
                "recipients": recipients,
                "states": dict(local.states),
            }
        ]
        answer = await self._client.patch("/message", json=body, headers=self._auth())
        answer.raise_for_status()

    # --- received SMS ----------------------------------------------------------------

    async def receive_sms(
        self, sender: str, text: str, *, sim_number: int = 1, know_own_number: bool = True
    ) -> list[int]:
        """Post an SMS this phone received to each ``sms:received`` webhook, signed as the
        app signs (spec section 4); returns the HTTP statuses. ``know_own_number=False``:
        as the app does when it cannot read the SIM's number, no ``recipient``."""
        assert self.registration is not None, "register first"
        received_at = self._now()
        content_hash = hashlib.sha256(f"{sender}|{text}|{received_at}".encode()).hexdigest()
        statuses = []
        for hook in self.webhooks:
            if hook.get("event") != "sms:received":
                continue
            body = json.dumps(
                {
                    "id": secrets.token_urlsafe(16),
                    "webhookId": hook.get("id"),
                    "event": "sms:received",
                    "deviceId": self.registration.id,
                    "payload": {
                        "messageId": content_hash[:16],
                        "message": text,
                        "sender": sender,
                        **({"recipient": self.config.own_number} if know_own_number else {}),
                        "simNumber": sim_number,
                        # The app's older name for the sender, still sent beside it.
                        "phoneNumber": sender,
                        "receivedAt": received_at,
                    },
                }
            ).encode()
            statuses.append(await self.post_signed(hook["url"], body))
        return statuses

    async def post_signed(self, url: str, body: bytes, *, key: str | None = None) -> int:
        stamp = str(int(time.time()))
        signature = hmac.new(
            (key or self._signing_key()).encode(), body + stamp.encode(), hashlib.sha256
        ).hexdigest()
        answer = await self._client.post(
            url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Timestamp": stamp,
                "X-Signature": signature,
            },
        )
        self._say(f"webhook {answer.status_code}")
        return answer.status_code

    # --- waiting (tests, CLI) --------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, check: Callable[[], bool], within: float = 5.0) -> None:
        """Return once ``check()`` holds (re-checked after each event); TimeoutError after
        ``within`` seconds."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(check)


def _text(item: dict[str, Any]) -> str:
    # Content precedence as the app's: dataMessage > textMessage > message (spec section 2).
    if item.get("textMessage"):
        return str(item["textMessage"].get("text", ""))
    return str(item.get("message", ""))
