"""Android phones as modems: devices, what they were given to send, and the app's vocabulary.

The words and formats here are the SMSGate app's (the open-source "SMS Gateway for Android"),
as the shared spec ``android-device-api.md`` gathers them from the app's sources: its
processing states (section 4), its server-sent event names (section 2, GET /events) and its
date format (section 0).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from textgate.core.message import Status
from textgate.errors import ConnectorError

__all__ = [
    "DEFAULT_VALIDITY_SECONDS",
    "Device",
    "DeviceEvent",
    "DeviceMessage",
    "EventName",
    "Outgoing",
    "PhoneReport",
    "Placement",
    "PlacementRules",
    "ProcessingState",
    "RecipientState",
    "SimCard",
    "Swept",
    "format_app_date",
    "nanoid",
    "parse_app_date",
    "report_status",
]

# The app's ids and tokens are 21-character nanoids (spec section 1, POST /device).
_NANOID_ALPHABET = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def nanoid(size: int = 21) -> str:
    # Never a leading "-": an id like "-J3..." reads as an option on a command line
    # (`textgate device label <id>`); a letter or digit first costs well under a bit.
    first = secrets.choice(_NANOID_ALPHABET.lstrip("_-"))
    return first + "".join(secrets.choice(_NANOID_ALPHABET) for _ in range(size - 1))


class ProcessingState(StrEnum):
    """A message's state on the phone (spec section 4; case-sensitive on the wire)."""

    PENDING = "Pending"
    CANCELLING = "Cancelling"
    CANCELLED = "Cancelled"
    PROCESSED = "Processed"
    SENT = "Sent"
    DELIVERED = "Delivered"
    FAILED = "Failed"


class EventName(StrEnum):
    """Server-sent event names the app acts on (spec section 2, GET /events)."""

    MESSAGE_ENQUEUED = "MessageEnqueued"
    WEBHOOKS_UPDATED = "WebhooksUpdated"
    SETTINGS_UPDATED = "SettingsUpdated"
    MESSAGE_CANCELLED = "MessageCancelled"


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    name: EventName
    data: tuple[tuple[str, str], ...] = ()
    """The vendor's payload is a map of strings (``{"messageId": "..."}``)."""


@dataclass(frozen=True, slots=True)
class SimCard:
    """One SIM as the app reports it (the app redacts numbers to their last 4 characters)."""

    slot_index: int | None = None
    sim_number: int | None = None
    phone_number: str | None = None
    carrier_name: str | None = None
    iccid: str | None = None


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    account_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime
    label: str | None = None
    phone_number: str | None = None
    push_token: str | None = None
    sim_cards: tuple[SimCard, ...] = ()
    pending: int = 0
    """Messages handed to the phone that it has not reported on yet."""


@dataclass(frozen=True, slots=True)
class DeviceMessage:
    """One message handed to a phone, as the phone is shown it (GET /message)."""

    id: str
    """The id the phone knows it by (the connector's external id)."""
    device_id: str
    message_id: str
    recipient: str
    text: str
    state: ProcessingState
    created_at: datetime
    sim_number: int | None = None
    priority: int = 0
    valid_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecipientState:
    phone_number: str
    state: ProcessingState
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PhoneReport:
    """One element of a phone's state report (PATCH /message)."""

    id: str
    state: ProcessingState
    recipients: tuple[RecipientState, ...]
    states: tuple[tuple[ProcessingState, datetime], ...] = ()
    """The phone's state history: when the message reached each state."""


Failover = Literal["reroute", "fail"]
# A message waits on (or for) a phone at most two days unless configured otherwise: the
# longest validity SMS networks commonly grant, and a bound on how long a message a phone
# took without reporting stays open.
DEFAULT_VALIDITY_SECONDS = 48 * 3600


@dataclass(frozen=True, slots=True)
class PlacementRules:
    """How messages are given to phones (the android connector's options)."""

    device: str | None = None
    """Send through this device (its label, name or id) unless the sender names another."""
    sim_number: int | None = None
    """SIM (1-3) the phone sends from; unset, the phone picks (spec: simNumber)."""
    validity_seconds: int | None = DEFAULT_VALIDITY_SECONDS
    """How long a message may wait on a phone before it expires (the app's validUntil). It
    also bounds how long a message a phone took waits for that phone's report; None: no
    limit."""
    high_priority: int = 100
    """Priority given to messages of quality class ``high``; at 100 or more the app skips its
    send delays and limits (spec: priority)."""
    offline_after_seconds: float = 600.0
    """A device not seen for this long (and without an open event stream) gets no new
    messages, and the messages it has not pulled fail over."""
    failover: Failover = "reroute"
    """Messages an offline device has not pulled: ``reroute`` hands them to another online
    device of the account (they wait while there is none); ``fail`` fails them. Messages it
    pulled, and messages pinned to it, are never moved (DESIGN "Delivery contract")."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to place on a phone."""

    message_id: str
    recipient: str
    sender: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one message went: the device and the id the phone knows it by, or why not."""

    message_id: str
    external_id: str | None = None
    device_id: str | None = None
    error: ConnectorError | None = None


@dataclass(frozen=True, slots=True)
class Swept:
    """Devices given messages by a fail-over sweep (to wake), and how many messages failed
    (failed over, or their chosen phone was removed) and expired."""

    woken: frozenset[str] = frozenset()
    failed: int = 0
    expired: int = 0


# A failed recipient whose error is this text ran out of validity on the phone (spec
# section 4: "TTL expired"), which textgate calls expired rather than failed.
TTL_EXPIRED = "TTL expired"


def report_status(state: ProcessingState, error: str | None) -> Status | None:
    """The textgate status a phone's report means; None when it changes nothing.

    The message is already ``sent`` (handed to the phone) when the phone first sees it, so
    Pending and Processed add nothing; Cancelled is handled as a cancellation, not a report.
    """
    if state is ProcessingState.DELIVERED:
        return Status.DELIVERED
    if state is ProcessingState.SENT:
        return Status.SENT
    if state is ProcessingState.FAILED:
        return Status.EXPIRED if error and TTL_EXPIRED in error else Status.FAILED
    return None


def format_app_date(moment: datetime) -> str:
    """``yyyy-MM-dd'T'HH:mm:ss.SSSXXX`` in UTC, which the app's Gson parses first (spec
    section 0): exactly three fractional digits and ``Z`` for the zero offset."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_app_date(text: str) -> datetime | None:
    """A date the app wrote (``2026-01-01T10:00:01.123+03:00``); None if unreadable."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
