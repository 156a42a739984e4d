"""Messages, their statuses and the events that move them (DESIGN section 3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from textgate.core.frozen import quick_init

__all__ = [
    "CANCELLABLE",
    "FINAL",
    "DeliveryReport",
    "Message",
    "Order",
    "Quality",
    "ReceiptRequest",
    "Status",
    "StatusEvent",
    "may_follow",
]


class Status(StrEnum):
    """Canonical statuses. Each dialect maps them to its provider's words in its own module."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    BUFFERED = "buffered"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    RECEIVED = "received"


class Quality(StrEnum):
    """Service classes some providers sell (high: direct operator routes with delivery
    reports; low: cheapest route). Dialects map their own words to these; the router maps
    each class to connectors."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class ReceiptRequest(StrEnum):
    """What a submitter asked to be told of its message's end (SMPP 3.4 5.2.17,
    registered_delivery bits 0-1: 01 a receipt of every final outcome, 10 of failures only)."""

    ALWAYS = "always"
    ON_FAILURE = "failure"

    def wants(self, status: Status) -> bool:
        """Whether a message ending in ``status`` gets a receipt."""
        return status in FINAL and (self is ReceiptRequest.ALWAYS or status != Status.DELIVERED)


FINAL: frozenset[Status] = frozenset(
    {
        Status.DELIVERED,
        Status.UNDELIVERED,
        Status.FAILED,
        Status.EXPIRED,
        Status.CANCELLED,
        Status.REJECTED,
    }
)
"""Statuses a message never leaves."""

CANCELLABLE: frozenset[Status] = frozenset({Status.SCHEDULED, Status.QUEUED})
"""A message can be cancelled only while it has not been handed to a connector."""

# Order of progress after the message reached an operator. A delivery report may move a
# message forward (sent -> buffered -> delivered) but never backwards: operators resend
# intermediate reports out of order, and a late "buffered" must not hide a "delivered".
_REPORT_RANK: dict[Status, int] = {
    Status.SENDING: 0,
    Status.SENT: 1,
    Status.BUFFERED: 2,
    Status.DELIVERED: 3,
    Status.UNDELIVERED: 3,
    Status.EXPIRED: 3,
    Status.FAILED: 3,
}


def may_follow(current: Status, new: Status) -> bool:
    """Whether a delivery report saying ``new`` may replace ``current``."""
    if current in FINAL:
        return False
    old_rank = _REPORT_RANK.get(current)
    new_rank = _REPORT_RANK.get(new)
    if old_rank is None or new_rank is None:
        return False
    return new_rank > old_rank or (new_rank == old_rank == 2)


@quick_init
@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One entry of a message's status history."""

    status: Status
    at: datetime
    detail: str | None = None
    connector: str | None = None
    """The connector of the hand-off the entry is about (dispatch entries)."""
    route: str | None = None
    """The routing rule that chose that connector (``core.routing``)."""


@quick_init
@dataclass(frozen=True, slots=True)
class Message:
    """One outbound message to one recipient (an order has one per recipient)."""

    id: str
    order_id: str
    account_id: str
    recipient: str
    sender: str | None
    text: str
    encoding: str
    segments: int
    status: Status
    created_at: datetime
    updated_at: datetime
    interface: str = "native"
    cost: int = 0
    """Micro-credits charged (core.pricing)."""
    client_ref: str | None = None
    scheduled_at: datetime | None = None
    country: str | None = None
    connector: str | None = None
    external_id: str | None = None
    error_code: str | None = None
    reason: str | None = None
    attempts: int = 0
    events: tuple[StatusEvent, ...] = field(default=())
    quality: str | None = None
    """Quality class the client asked for (:class:`Quality`); None when it asked for none."""
    receipt: str | None = None
    """Which final statuses the submitter wants a receipt of (:class:`ReceiptRequest`);
    None: no receipt (only the SMPP server's customers ask for one)."""
    route: str | None = None
    """The routing rule of its latest hand-off (``core.routing``)."""
    upstream_cost: int | None = None
    """Micro-credits it cost upstream, when known (the operator's business, not the
    account's: interfaces for accounts do not show it)."""
    valid_until: datetime | None = None
    """When waiting for a link ends (status ``expired`` if it was not handed off by then),
    as the client asked; None: the dispatcher's default validity from its due time."""


@quick_init
@dataclass(frozen=True, slots=True)
class Order:
    """One submit request: the unit of idempotency and of bulk cancellation."""

    id: str
    account_id: str
    created_at: datetime
    interface: str
    client_ref: str | None
    recipients: int


@quick_init
@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A connector's word about a message it accepted, matched by its external id."""

    connector: str
    external_id: str
    status: Status
    at: datetime
    error_code: str | None = None
