"""Wire shapes of textgate's own REST API (``/v1``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from textgate.core.inbound import Inbound
from textgate.core.message import Message, StatusEvent
from textgate.services.smpp_logins import MAX_PASSWORD_LENGTH, MAX_SYSTEM_ID_LENGTH, SmppLogin

__all__ = [
    "AccountOut",
    "CancelOut",
    "ConversationOut",
    "ErrorBody",
    "InboundList",
    "InboundOut",
    "InboundPatch",
    "MessageDetail",
    "MessageList",
    "MessageOut",
    "OptOutList",
    "OptOutOut",
    "OptOutsIn",
    "SendIn",
    "SendOut",
    "SmppLoginIn",
    "SmppLoginList",
    "SmppLoginOut",
    "ThreadItemOut",
    "ThreadList",
    "ThreadOut",
    "UsageOut",
    "send_out_json",
]


def _rfc3339(moment: datetime) -> str:
    """``2026-12-07T04:28:31.000000Z``: UTC, always six digits of fraction. pydantic's
    default leaves the fraction out on a whole second, so one field changed shape from one
    answer to the next, and a client parsing one fixed format failed once in a thousand."""
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    # isoformat's first 26 characters are the date and time to the microsecond (datetime's
    # year always has four digits); what follows is the offset, now +00:00 or none.
    return moment.isoformat(timespec="microseconds")[:26] + "Z"


Timestamp = Annotated[
    datetime,
    PlainSerializer(_rfc3339, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
"""A time the API answers with (RFC 3339, UTC)."""


class SendIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: Annotated[str | list[str], Field(description="One number or a list of numbers")]
    text: str = Field(min_length=1)
    sender: str | None = Field(default=None, alias="from", description="Sender ID")
    schedule_at: datetime | None = Field(default=None, description="ISO 8601; UTC if no offset")
    valid_until: datetime | None = Field(
        default=None,
        description="ISO 8601; UTC if no offset. Not sent by then (no usable link), the"
        " messages expire; later than now and than schedule_at. Default: the gateway's"
        " validity",
    )
    reference: str | None = Field(
        default=None, max_length=200, description="Your own reference, echoed back"
    )
    encoding: str | None = Field(default=None, pattern="^(gsm7|ucs2)$")
    callback_url: str | None = Field(
        default=None,
        max_length=2000,
        description="http(s) URL told of every status change of these messages (signed"
        " like webhooks, with the secret of the message-scoped target for this URL)",
    )

    def recipients(self) -> list[str]:
        return [self.to] if isinstance(self.to, str) else list(self.to)


class MessageOut(BaseModel):
    id: str
    order_id: str
    to: str
    sender: str | None
    status: str
    encoding: str
    segments: int
    created_at: Timestamp
    updated_at: Timestamp
    scheduled_at: Timestamp | None = None
    valid_until: Timestamp | None = None
    reference: str | None = None
    country: str | None = None
    error_code: str | None = None
    reason: str | None = None

    @classmethod
    def of(cls, m: Message) -> MessageOut:
        return cls(
            id=m.id,
            order_id=m.order_id,
            to=m.recipient,
            sender=m.sender,
            status=m.status.value,
            encoding=m.encoding,
            segments=m.segments,
            created_at=m.created_at,
            updated_at=m.updated_at,
            scheduled_at=m.scheduled_at,
            valid_until=m.valid_until,
            reference=m.client_ref,
            country=m.country,
            error_code=m.error_code,
            reason=m.reason,
        )


class EventOut(BaseModel):
    status: str
    at: Timestamp
    detail: str | None = None
    connector: str | None = Field(
        default=None, description="The connector of the hand-off this entry is about"
    )
    route: str | None = Field(default=None, description="The routing rule that chose it")

    @classmethod
    def of(cls, e: StatusEvent) -> EventOut:
        return cls(
            status=e.status.value,
            at=e.at,
            detail=e.detail,
            connector=e.connector,
            route=e.route,
        )


class MessageDetail(MessageOut):
    text: str
    attempts: int
    history: list[EventOut]

    @classmethod
    def of_detail(cls, m: Message) -> MessageDetail:
        base = MessageOut.of(m).model_dump()
        return cls(
            **base, text=m.text, attempts=m.attempts, history=[EventOut.of(e) for e in m.events]
        )


class SendOut(BaseModel):
    order_id: str
    accepted: int
    rejected: int
    messages: list[MessageOut]


def send_out_json(order_id: str, accepted: int, messages: Sequence[Message]) -> bytes:
    """:class:`SendOut` as JSON, byte for byte what its ``model_dump_json`` writes, without
    building the models: the answer to every submit, where building and dumping them took
    a tenth of the request's time (bench/RESULTS.md, "Submit answers without models")."""
    return orjson.dumps(
        {
            "order_id": order_id,
            "accepted": accepted,
            "rejected": len(messages) - accepted,
            "messages": [_message_out(m) for m in messages],
        }
    )


def _message_out(m: Message) -> dict[str, Any]:
    """:meth:`MessageOut.of`'s fields, in its order, as they dump to JSON."""
    created = _rfc3339(m.created_at)
    return {
        "id": m.id,
        "order_id": m.order_id,
        "to": m.recipient,
        "sender": m.sender,
        "status": m.status.value,
        "encoding": m.encoding,
        "segments": m.segments,
        "created_at": created,
        "updated_at": created if m.updated_at == m.created_at else _rfc3339(m.updated_at),
        "scheduled_at": None if m.scheduled_at is None else _rfc3339(m.scheduled_at),
        "valid_until": None if m.valid_until is None else _rfc3339(m.valid_until),
        "reference": m.client_ref,
        "country": m.country,
        "error_code": m.error_code,
        "reason": m.reason,
    }


class MessageList(BaseModel):
    data: list[MessageOut]
    next_cursor: str | None


class CancelOut(BaseModel):
    cancelled: list[str]


class UsageOut(BaseModel):
    day: str = Field(description="The account's current day, in its time zone")
    count: int = Field(description="Messages accepted that day")
    daily_limit: int
    remaining: int


class AccountOut(BaseModel):
    id: str
    name: str
    created_at: Timestamp
    default_country: str | None
    balance: str = Field(description="Credits, as a decimal string")
    usage_today: UsageOut
    batch_limit: int
    settings: dict[str, Any]


class OptOutsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    numbers: list[str] = Field(min_length=1, max_length=10_000)


class OptOutOut(BaseModel):
    number: str
    source: str
    created_at: Timestamp


class OptOutList(BaseModel):
    data: list[OptOutOut]


class SmppLoginIn(BaseModel):
    # The lengths and characters are checked by the service (SmppLoginService.set_login),
    # which answers every interface with the same message; here they are only described.
    model_config = ConfigDict(extra="forbid")

    system_id: str = Field(
        description=f"What the client binds with: 1 to {MAX_SYSTEM_ID_LENGTH} printable ASCII"
        " characters without spaces (SMPP 3.4 5.2.1), unique over all accounts"
    )
    password: str = Field(
        description=f"1 to {MAX_PASSWORD_LENGTH} printable ASCII characters without spaces"
        " (SMPP 3.4 5.2.2); stored as a hash, never shown again"
    )


class SmppLoginOut(BaseModel):
    system_id: str
    created_at: Timestamp = Field(description="When this system_id and password were set")

    @classmethod
    def of(cls, login: SmppLogin) -> SmppLoginOut:
        return cls(system_id=login.system_id, created_at=login.created_at)


class SmppLoginList(BaseModel):
    data: list[SmppLoginOut]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class InboundOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    sender: str = Field(serialization_alias="from", description="The handset that wrote")
    to: str = Field(description="Your number it wrote to")
    text: str
    received_at: Timestamp
    parts: int = Field(description="Parts received (concatenated messages are reassembled)")
    complete: bool = Field(
        description="False when parts never came and the rest was stored after a timeout"
    )
    read: bool
    alias: str | None = None
    connector: str

    @classmethod
    def of(cls, m: Inbound) -> InboundOut:
        return cls(
            id=m.id,
            sender=m.sender,
            to=m.recipient,
            text=m.text,
            received_at=m.received_at,
            parts=m.parts,
            complete=m.complete,
            read=m.read_at is not None,
            alias=m.alias,
            connector=m.connector,
        )


class InboundList(BaseModel):
    data: list[InboundOut]
    next_cursor: str | None


class InboundPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    read: bool | None = Field(default=None, description="Mark read (true) or unread (false)")
    alias: str | None = Field(
        default=None, max_length=100, description='A name for the sender; "" clears it'
    )


class ThreadItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read from core.conversations.ThreadItem

    direction: str = Field(description='"in" (from the handset) or "out" (sent to it)')
    id: str
    text: str
    at: Timestamp
    status: str | None = Field(default=None, description="Outbound: the message's status")
    read: bool | None = Field(default=None, description="Inbound: marked read")


class ThreadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read from core.conversations.Thread

    number: str
    last: ThreadItemOut
    messages: int
    unread: int


class ThreadList(BaseModel):
    data: list[ThreadOut]


class ConversationOut(BaseModel):
    number: str
    data: list[ThreadItemOut] = Field(description="Newest first")
