"""Webhook payload formats (pure): the same event rendered as textgate's own envelope or in
another shape, per subscription.

textgate's own format, ``textgate``, is ``{"id", "type", "created_at", "data"}``
(core.webhooks.event_body) for every event type. Other formats are declared by the dialects
whose clients expect them and handed to the parts that validate and render subscriptions as a
``WebhookFormats`` table, so this module knows none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from textgate.core.webhooks import event_body

__all__ = [
    "JSON",
    "TEXTGATE",
    "Rendered",
    "Renderer",
    "Signer",
    "WebhookFormats",
    "render_textgate",
]

TEXTGATE = "textgate"
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Rendered:
    body: str
    content_type: str = JSON


Renderer = Callable[[str, str, int, Mapping[str, Any]], "Rendered | None"]
"""``(event_id, event_type, at_ms, data)`` -> the body to deliver, or None when the format does
not carry this kind of event."""

Signer = Callable[[str, str, str], Mapping[str, str]]
"""``(secret, url, body)`` -> the headers a delivery of this format carries (its Content-Type
and its provider's signature), for a format whose receivers check their provider's
signature rather than textgate's."""


def render_textgate(
    event_id: str, event_type: str, at_ms: int, data: Mapping[str, Any]
) -> Rendered:
    return Rendered(event_body(event_id, event_type, at_ms, data))


@dataclass(frozen=True, slots=True)
class WebhookFormats:
    """The payload formats a subscription may name: textgate's own plus ``extra`` by name."""

    extra: Mapping[str, Renderer] = field(default_factory=dict)
    signers: Mapping[str, Signer] = field(default_factory=dict)
    """The formats delivered with their provider's headers instead of textgate's."""

    def __post_init__(self) -> None:
        if TEXTGATE in self.extra or TEXTGATE in self.signers:
            raise ValueError(f"the {TEXTGATE!r} format is textgate's own")
        unknown = set(self.signers) - set(self.extra)
        if unknown:
            raise ValueError(f"signers of no format: {', '.join(sorted(unknown))}")

    def signer(self, fmt: str) -> Signer | None:
        return self.signers.get(fmt)

    @property
    def names(self) -> frozenset[str]:
        return frozenset({TEXTGATE, *self.extra})

    def render(
        self, fmt: str, event_id: str, event_type: str, at_ms: int, data: Mapping[str, Any]
    ) -> Rendered | None:
        """The body to deliver for one event to a subscription of format ``fmt``; None when
        that format does not carry this kind of event. Unknown formats get textgate's own."""
        renderer = self.extra.get(fmt)
        if renderer is None:
            return render_textgate(event_id, event_type, at_ms, data)
        return renderer(event_id, event_type, at_ms, data)
