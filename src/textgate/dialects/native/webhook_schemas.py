"""Wire shapes of the native API's webhook endpoints (``/v1/webhooks``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from textgate.core.webhooks import Webhook

__all__ = [
    "DeliveryList",
    "DeliveryOut",
    "WebhookCreated",
    "WebhookIn",
    "WebhookList",
    "WebhookOut",
]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000, description="http(s) URL to POST events to")
    events: list[str] = Field(
        min_length=1,
        max_length=20,
        description="Event types: message.<status>, message.*, inbound.received, or *",
    )
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="Signing secret; one is generated when omitted",
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: datetime

    @classmethod
    def of(cls, w: Webhook) -> WebhookOut:
        return cls(id=w.id, url=w.url, events=list(w.events), created_at=w.created_at)


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown once: store it to verify signatures")

    @classmethod
    def created(cls, w: Webhook) -> WebhookCreated:
        assert w.secret is not None
        return cls(
            id=w.id, url=w.url, events=list(w.events), created_at=w.created_at, secret=w.secret
        )


class WebhookList(BaseModel):
    data: list[WebhookOut]


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read from a WebhookDelivery

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


class DeliveryList(BaseModel):
    data: list[DeliveryOut]
    next_before: str | None = Field(
        default=None, description="Pass as before= for the next (older) page"
    )
