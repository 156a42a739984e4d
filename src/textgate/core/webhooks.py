"""Webhook events: their types, bodies, signatures and retry schedule (pure).

A receiver verifies a delivery by recomputing
``hex(HMAC-SHA256(secret, f"{timestamp}.{body}"))`` over the ``Textgate-Timestamp`` header
and the raw request body, and comparing it (in constant time) with the ``v1=`` value of
``Textgate-Signature``. Signing the timestamp with the body lets a receiver refuse replays
older than it tolerates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from textgate.core.message import Status

__all__ = [
    "EVENT_TYPES",
    "INBOUND_RECEIVED",
    "MAILTO",
    "SIGNATURE_VERSION",
    "Webhook",
    "WebhookDelivery",
    "backoff_ms",
    "event_body",
    "inbound_event_id",
    "iso_time",
    "matches",
    "message_event_id",
    "message_event_type",
    "sign",
    "signature_header",
    "verify",
]

SIGNATURE_VERSION = "v1"
MAILTO = "mailto:"
"""Targets whose URL starts with this are told by email, not by HTTP."""
INBOUND_RECEIVED = "inbound.received"
_MESSAGE_PREFIX = "message."
# Every canonical message status (DESIGN.md, section 3) becomes ``message.<status>``.
_STATUSES = tuple(s.value for s in Status if s is not Status.RECEIVED)
EVENT_TYPES: frozenset[str] = frozenset(
    {*(_MESSAGE_PREFIX + s for s in _STATUSES), INBOUND_RECEIVED, "message.*", "*"}
)
"""What a subscription may list: exact types, ``message.*`` (every status) or ``*``."""


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    account_id: str
    url: str
    events: tuple[str, ...]
    created_at: datetime
    scope: str = "account"
    """'account': every matching event of the account; 'message': only events of the
    messages linked to it (a submit's callback URL, an email interface's Notify=)."""
    format: str = "textgate"
    """Payload shape (core.webhook_formats): textgate's envelope or a provider's."""
    secret: str | None = None
    """Only set on the object returned at creation (or rotation); never read back."""
    label: str | None = None
    """The client's own name for it, where its API has one (unique per account and
    format); None for the others."""


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None


def message_event_type(status: str) -> str:
    return _MESSAGE_PREFIX + status


def message_event_id(row_id: int) -> str:
    # Derived from the event row, so a replayed feed or a retried delivery names the same
    # event and receivers can deduplicate on it.
    return f"evt_msg_{row_id}"


def inbound_event_id(inbound_id: str) -> str:
    return f"evt_in_{inbound_id}"


def matches(subscribed: Iterable[str], event_type: str) -> bool:
    for pattern in subscribed:
        if pattern in ("*", event_type):
            return True
        if pattern == "message.*" and event_type.startswith(_MESSAGE_PREFIX):
            return True
    return False


def iso_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def event_body(event_id: str, event_type: str, at_ms: int, data: Mapping[str, Any]) -> str:
    """The JSON body sent for one event; stored as text so every attempt signs the same bytes."""
    return json.dumps(
        {"id": event_id, "type": event_type, "created_at": iso_time(at_ms), "data": dict(data)},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def sign(secret: str, timestamp: int, body: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return mac.hexdigest()


def signature_header(secret: str, timestamp: int, body: str) -> str:
    return f"{SIGNATURE_VERSION}={sign(secret, timestamp, body)}"


def verify(secret: str, timestamp: int, body: str, header: str) -> bool:
    """What a receiver does (used by the tests and shown in the README)."""
    expected = sign(secret, timestamp, body)
    for part in header.split(","):
        version, _, value = part.strip().partition("=")
        if version == SIGNATURE_VERSION and hmac.compare_digest(value, expected):
            return True
    return False


def backoff_ms(attempt: int, *, base_ms: int, max_ms: int, jitter: float) -> int:
    """Delay after failed attempt ``attempt`` (1-based): doubling from ``base_ms`` up to
    ``max_ms``, spread by +-20% (``jitter`` in [0, 1)) so that deliveries that failed
    together (a receiver outage) do not all come back in the same instant."""
    delay = min(max_ms, base_ms * (2 ** min(attempt - 1, 40)))
    return max(1, int(delay * (0.8 + 0.4 * jitter)))
