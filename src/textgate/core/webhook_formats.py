"""Webhook payload formats (pure): the same event rendered as textgate's own envelope or in a
provider's shape, per subscription.

* ``textgate``: ``{"id", "type", "created_at", "data"}`` (core.webhooks.event_body), for every
  event type.
* ``smsmobileapi``: SMSmobileAPI's received-SMS webhook (seed 003, "Webhook - SMS Received"):
  ``{"date", "hour", "time_received", "message", "number", "guid"}``. The provider defines
  it for received SMS only, so other events are not sent to such a subscription.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from textgate.core.webhooks import INBOUND_RECEIVED, event_body

__all__ = ["FORMATS", "JSON", "SMSMOBILEAPI", "TEXTGATE", "Rendered", "render"]

TEXTGATE = "textgate"
SMSMOBILEAPI = "smsmobileapi"
FORMATS: frozenset[str] = frozenset({TEXTGATE, SMSMOBILEAPI})
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Rendered:
    body: str
    content_type: str = JSON


def _smsmobileapi(event_type: str, at_ms: int, data: Mapping[str, Any]) -> Rendered | None:
    if event_type != INBOUND_RECEIVED:
        return None
    at = datetime.fromtimestamp(at_ms / 1000, tz=UTC)
    body = {
        # When the SMS was received (the seed: "added"), in the gateway's time, UTC.
        "date": at.strftime("%Y-%m-%d"),
        "hour": at.strftime("%H:%M:%S"),
        "time_received": at.strftime("%Y-%m-%d %H:%M:%S"),
        "message": data.get("text", ""),
        "number": data.get("from", ""),
        "guid": data.get("inbound_id", ""),
    }
    return Rendered(json.dumps(body, separators=(",", ":"), ensure_ascii=False))


def render(
    fmt: str, event_id: str, event_type: str, at_ms: int, data: Mapping[str, Any]
) -> Rendered | None:
    """The body to deliver for one event to a subscription of format ``fmt``; None when that
    format does not carry this kind of event. Unknown formats get textgate's own."""
    if fmt == SMSMOBILEAPI:
        return _smsmobileapi(event_type, at_ms, data)
    return Rendered(event_body(event_id, event_type, at_ms, data))
