"""The vendor's message shapes (shared/specs/android-device-api.md, section 6; the client
library's ``domain.Message`` and ``MessageState``): what a client sends, and the state it
reads back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from textgate.core.message import Message, Status

__all__ = ["STATES", "STATE_WORDS", "SendIn", "WebhookIn", "message_state", "state_filter"]


class TextMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str


class SendIn(BaseModel):
    """``POST /messages``: ``textMessage`` (or the older ``message``) to ``phoneNumbers``."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(default=None, min_length=1, max_length=36)
    deviceId: str | None = Field(default=None, max_length=64)
    textMessage: TextMessage | None = None
    message: str | None = None
    dataMessage: dict[str, Any] | None = None
    mmsMessage: dict[str, Any] | None = None
    phoneNumbers: list[str] = Field(min_length=1, max_length=100)
    isEncrypted: bool = False
    simNumber: int | None = Field(default=None, ge=1, le=3)
    withDeliveryReport: bool = True
    priority: int | None = Field(default=None, ge=-128, le=127)
    ttl: int | None = Field(default=None, ge=1, le=10 * 365 * 86_400)
    validUntil: datetime | None = None
    scheduleAt: datetime | None = None


class WebhookIn(BaseModel):
    """``POST /webhooks``: ``{"id"?, "url", "event", "deviceId"?}``."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(default=None, max_length=64)
    url: str = Field(min_length=1, max_length=2048)
    event: str = Field(max_length=64)
    deviceId: str | None = Field(default=None, max_length=64)


# textgate's status -> the vendor's state word (case-sensitive: Pending, Processed, Sent,
# Delivered, Failed, Cancelled; spec section 6). Waiting to leave is Pending; taken by a
# link (a phone pulled it, a carrier has it in flight) is Processed.
STATE_WORDS: Final[Mapping[Status, str]] = {
    Status.SCHEDULED: "Pending",
    Status.QUEUED: "Pending",
    Status.SENDING: "Processed",
    Status.SENT: "Sent",
    Status.BUFFERED: "Sent",
    Status.DELIVERED: "Delivered",
    Status.UNDELIVERED: "Failed",
    Status.FAILED: "Failed",
    Status.EXPIRED: "Failed",
    Status.REJECTED: "Failed",
    Status.CANCELLED: "Cancelled",
}
# A message's state is its least advanced recipient's, in this order: Pending while one
# waits, Delivered once every recipient is delivered or has failed, Failed (Cancelled)
# only when every recipient ended so.
# (Every state word, in that order: what the list's ``state`` filter takes.)
STATES: Final = ("Pending", "Processed", "Sent", "Delivered", "Failed", "Cancelled")


def _word(status: Status) -> str:
    """A recipient's state word (a status the vendor has no word for waits: Pending)."""
    return STATE_WORDS.get(status, "Pending")


def state_filter(word: str) -> tuple[frozenset[Status], frozenset[Status]] | None:
    """The statuses that make a message's state ``word`` (its least advanced recipient's):
    (some recipient in one of these, none in one of those); None for no such word."""
    if word not in STATES:
        return None
    rank = STATES.index(word)
    at = frozenset(s for s in Status if _word(s) == word)
    behind = frozenset(s for s in Status if STATES.index(_word(s)) < rank)
    return at, behind


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds")


def message_state(ident: str, device_id: str | None, messages: Sequence[Message]) -> dict[str, Any]:
    words = [_word(m.status) for m in messages]
    state = min(words, key=STATES.index)
    recipients: list[dict[str, Any]] = []
    for m, word in zip(messages, words, strict=True):
        line: dict[str, Any] = {"phoneNumber": m.recipient, "state": word}
        if word == "Failed":
            line["error"] = m.reason or m.status.value
        recipients.append(line)
    latest = max(m.updated_at for m in messages)
    return {
        "id": ident,
        "deviceId": device_id,
        "state": state,
        "isHashed": False,
        "isEncrypted": False,
        "recipients": recipients,
        "states": {state: _iso(latest)},
        "createdAt": _iso(min(m.created_at for m in messages)),
        "textMessage": {"text": messages[0].text},
    }
