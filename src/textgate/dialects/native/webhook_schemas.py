"""Wire shapes of the native API's notification endpoints (``/v1/webhooks``, ``/v1/emails``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from textgate.core.mail import OutboundMail
from textgate.core.webhook_formats import TEXTGATE
from textgate.core.webhooks import Webhook

__all__ = [
    "DeliveryList",
    "DeliveryOut",
    "EmailList",
    "EmailOut",
    "WebhookCreated",
    "WebhookIn",
    "WebhookList",
    "WebhookOut",
]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=2000,
        description="http(s) URL to POST events to, or mailto:<address> to be told by email",
    )
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
    # Checked against the formats the dialects declare (services.webhooks), not listed here.
    format: str = Field(
        default=TEXTGATE,
        min_length=1,
        max_length=64,
        description="Payload shape: textgate's event envelope, or a provider's shape that one"
        " of the gateway's dialects declares (smsmobileapi: SMSmobileAPI's received-SMS"
        " webhook, inbound.received only)",
    )
    scope: Literal["account", "message"] = Field(
        default="account",
        description="account: every matching event of the account; message: only events of"
        " messages submitted with this URL as callback_url",
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    scope: str
    format: str
    created_at: datetime

    @classmethod
    def of(cls, w: Webhook) -> WebhookOut:
        return cls(
            id=w.id,
            url=w.url,
            events=list(w.events),
            scope=w.scope,
            format=w.format,
            created_at=w.created_at,
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown once: store it to verify signatures")

    @classmethod
    def created(cls, w: Webhook) -> WebhookCreated:
        assert w.secret is not None
        return cls(**WebhookOut.of(w).model_dump(), secret=w.secret)


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


class EmailOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read from an OutboundMail

    id: str
    source: str
    to: list[str]
    subject: str | None
    status: str = Field(description="pending, sent or dead")
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None

    @classmethod
    def of(cls, m: OutboundMail) -> EmailOut:
        return cls.model_validate(m)


class EmailList(BaseModel):
    data: list[EmailOut]
    next_before: str | None = Field(
        default=None, description="Pass as before= for the next (older) page"
    )
