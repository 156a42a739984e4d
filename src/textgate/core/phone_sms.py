"""What the account's phones sent and received, as SMSmobileAPI-style interfaces show it: the
log of sent messages with the phone's side, what phones report sending, received SMS with the
phone that got them, and conversations grouped by number (seed 003)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from textgate.core.message import Status

__all__ = [
    "HISTORY_DAYS",
    "RESENDABLE",
    "Conversation",
    "ConversationLine",
    "Origin",
    "PhoneSent",
    "PhoneSentQuery",
    "ReceivedSms",
    "SentSms",
    "SortField",
    "device_of_external_id",
    "select_phone_sent",
]

HISTORY_DAYS = 7
"""How far back the phones' own sent log reaches (seed 003, "History limit")."""

RESENDABLE: frozenset[Status] = frozenset({Status.FAILED, Status.UNDELIVERED, Status.EXPIRED})
"""A message may be sent again only while it is in one of these error statuses."""

Origin = Literal["received", "sent"]


@dataclass(frozen=True, slots=True)
class SentSms:
    """One message sent through the API, with what its phone did with it."""

    id: str
    recipient: str
    text: str
    status: Status
    created_at: datetime
    device_id: str | None = None
    sim_number: int | None = None
    phone_sent_at: datetime | None = None
    """When the phone reported the SMS sent (None: not sent yet, or failed before)."""
    phone_error: str | None = None
    """The phone's error text, if it failed to send."""
    api_error: str | None = None
    """Why the gateway refused or failed it before a phone had it."""


@dataclass(frozen=True, slots=True)
class PhoneSent:
    """One SMS a phone reports having sent."""

    device_id: str
    number: str
    message: str
    sent_at_ms: int
    """The phone's own time of sending (milliseconds)."""
    synced_at: datetime
    """When the phone's report reached the gateway."""


class SortField(StrEnum):
    """Sort fields of the phones' sent log (seed 003, ``sort_by``)."""

    SID = "sIdentifiant"
    NUMBER = "number"
    MESSAGE = "message"
    MOBILE_DATE_MS = "mobile_date_ms"
    MOBILE_DATE_FORMATTED = "mobile_date_formatted"
    SYNCHRO_TIME = "synchro_time"


@dataclass(frozen=True, slots=True)
class PhoneSentQuery:
    """Filters of the phones' sent log; times are milliseconds, ``until_ms`` exclusive."""

    since_ms: int
    until_ms: int | None = None
    number: str | None = None
    device_id: str | None = None
    message: str | None = None
    search: str | None = None
    sort_by: SortField = SortField.MOBILE_DATE_MS
    descending: bool = True
    limit: int = 200


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def select_phone_sent(
    rows: Sequence[PhoneSent],
    query: PhoneSentQuery,
    formatted: Callable[[PhoneSent], tuple[str, str]],
) -> list[PhoneSent]:
    """Filter, sort and cut the phones' sent log. ``formatted`` gives a row's two shown
    dates (mobile date, synchronisation time), which the global search also looks in."""
    picked: list[PhoneSent] = []
    wanted_number = _digits(query.number or "")
    needle = (query.search or "").lower()
    for row in rows:
        if row.sent_at_ms < query.since_ms:
            continue
        if query.until_ms is not None and row.sent_at_ms >= query.until_ms:
            continue
        if wanted_number and _digits(row.number) != wanted_number:
            continue
        if query.device_id and row.device_id != query.device_id:
            continue
        if query.message and query.message.lower() not in row.message.lower():
            continue
        if needle:
            fields = (row.device_id, row.number, row.message, *formatted(row))
            if not any(needle in f.lower() for f in fields):
                continue
        picked.append(row)
    keys: dict[SortField, Callable[[PhoneSent], str | int]] = {
        SortField.SID: lambda r: r.device_id,
        SortField.NUMBER: lambda r: r.number,
        SortField.MESSAGE: lambda r: r.message,
        SortField.MOBILE_DATE_MS: lambda r: r.sent_at_ms,
        SortField.MOBILE_DATE_FORMATTED: lambda r: r.sent_at_ms,
        SortField.SYNCHRO_TIME: lambda r: int(r.synced_at.timestamp() * 1000),
    }
    key = keys[query.sort_by]
    picked.sort(key=lambda r: (key(r), r.sent_at_ms), reverse=query.descending)
    return picked[: query.limit]


@dataclass(frozen=True, slots=True)
class ReceivedSms:
    """A received SMS with the phone that got it (None: not from a phone)."""

    id: str
    device_id: str | None
    sender: str
    text: str
    received_at: datetime
    stored_at: datetime
    alias: str | None
    read: bool


@dataclass(frozen=True, slots=True)
class ConversationLine:
    direction: Literal["incoming", "outgoing"]
    id: str
    text: str
    at: datetime
    device_id: str | None


@dataclass(frozen=True, slots=True)
class Conversation:
    number: str
    alias: str | None
    lines: tuple[ConversationLine, ...]
    """Oldest first."""


def device_of_external_id(connector: str, external_id: str | None) -> str | None:
    """The phone an inbound message came from: phones' messages are stored under the
    android connector with ``{device id}:{app message id}`` as external id."""
    if connector != "android" or not external_id or ":" not in external_id:
        return None
    return external_id.split(":", 1)[0]
