"""SMSmobileAPI's received-SMS webhook (seed 003, "Webhook - SMS Received"): the payload a
subscription made through ``/webhook/add/`` gets, ``{"date", "hour", "time_received",
"message", "number", "guid"}``. The provider defines it for received SMS only, so other
events are not sent to such a subscription."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from textgate.core.webhook_formats import Rendered
from textgate.core.webhooks import INBOUND_RECEIVED

__all__ = ["FORMAT", "render"]

FORMAT = "smsmobileapi"


def render(event_id: str, event_type: str, at_ms: int, data: Mapping[str, Any]) -> Rendered | None:
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
