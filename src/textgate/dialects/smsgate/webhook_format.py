"""Webhooks as the SMSGate app posts them (shared/specs/android-device-api.md, section 4,
"Received SMS" and "Other events"): ``{"id", "webhookId", "event", "deviceId", "payload"}``
with ``X-Timestamp`` (Unix seconds) and ``X-Signature`` = hex(HMAC-SHA256(signing key,
body + timestamp)) keyed by the subscription's secret (services.phone_signature, which
also checks what the phones post).

The vendor's events and the textgate events behind them: ``sms:received`` (a received
message), ``sms:sent``, ``sms:delivered``, ``sms:failed`` (failed, undelivered, expired or
refused) and ``sms:cancelled``, each once per recipient. ``webhookId`` is not known where
the body is made (one body serves every subscription of the format) and is left out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from textgate.core.message import Status
from textgate.core.webhook_formats import Rendered
from textgate.core.webhooks import INBOUND_RECEIVED
from textgate.services.phone_signature import phone_signature

__all__ = ["EVENTS", "FORMAT", "render", "sign", "vendor_event"]

FORMAT: Final = "smsgate"

# The vendor's event -> the textgate events that raise it.
EVENTS: Final[Mapping[str, tuple[str, ...]]] = {
    "sms:received": (INBOUND_RECEIVED,),
    "sms:sent": ("message.sent",),
    "sms:delivered": ("message.delivered",),
    "sms:failed": ("message.failed", "message.undelivered", "message.expired", "message.rejected"),
    "sms:cancelled": ("message.cancelled",),
}
_BY_TEXTGATE: Final = {t: vendor for vendor, ts in EVENTS.items() for t in ts}
# The payload's time field of each event ("Other events and their extra fields").
_TIME_FIELD: Final = {
    "sms:sent": "sentAt",
    "sms:delivered": "deliveredAt",
    "sms:failed": "failedAt",
    "sms:cancelled": "cancelledAt",
}


def vendor_event(events: tuple[str, ...]) -> str | None:
    """The vendor's event a subscription's textgate events stand for."""
    for vendor, mine in EVENTS.items():
        if tuple(mine) == tuple(events):
            return vendor
    return None


def _iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def render(event_id: str, event_type: str, at_ms: int, data: Mapping[str, Any]) -> Rendered | None:
    vendor = _BY_TEXTGATE.get(event_type)
    if vendor is None:
        return None
    payload: dict[str, Any]
    if vendor == "sms:received":
        payload = {
            "messageId": data.get("inbound_id"),
            "message": data.get("text", ""),
            "sender": data.get("from"),
            "recipient": data.get("to"),
            "phoneNumber": data.get("from"),
            "simNumber": None,
            "receivedAt": _iso(at_ms),
        }
    else:
        # The id the client knows the message by: its own (the reference), else textgate's.
        payload = {
            "messageId": data.get("reference") or data.get("message_id"),
            "phoneNumber": data.get("to"),
            _TIME_FIELD[vendor]: _iso(at_ms),
        }
        if vendor == "sms:failed":
            payload["reason"] = data.get("detail") or Status(data["status"]).value
    body = {"id": event_id, "event": vendor, "deviceId": None, "payload": payload}
    return Rendered(json.dumps(body, separators=(",", ":"), ensure_ascii=False))


def sign(secret: str, url: str, body: str) -> Mapping[str, str]:
    timestamp = str(int(time.time()))
    digest = phone_signature(secret, body.encode(), timestamp)
    return {"Content-Type": "application/json", "X-Timestamp": timestamp, "X-Signature": digest}
