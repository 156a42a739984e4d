"""What an interface asks of the submit path (:class:`SubmitRequest`), what it answers
(:class:`SubmitResult`), and the limits and codes both sides name (``services.submit``
decides; a dialect builds the request and words the answer)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from textgate.core.accounts import Account
from textgate.core.clock import from_ms, to_ms
from textgate.core.encoding import Encoding
from textgate.core.frozen import quick_init
from textgate.core.message import Message, Quality, ReceiptRequest, Status
from textgate.core.webhook_formats import TEXTGATE
from textgate.errors import InvalidRequest

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_VALIDITY",
    "MAX_KEY_LENGTH",
    "MAX_RECIPIENTS",
    "MAX_REFERENCE_LENGTH",
    "MAX_SEGMENTS",
    "RECIPIENT_WIDTH",
    "SENDER_MISSING",
    "TEXT_TOO_LONG",
    "Notify",
    "SubmitRequest",
    "SubmitResult",
    "TargetResolver",
    "check_no_nul",
    "check_validity",
    "validity_end",
]

# A concatenated SMS carries its part count in one octet (3GPP TS 23.040 9.2.3.24.1).
MAX_SEGMENTS = 255
MAX_RECIPIENTS = 10_000
MAX_KEY_LENGTH = 255
MAX_REFERENCE_LENGTH = 200
# The code counted for a submit that failed on something other than a GatewayError.
INTERNAL_ERROR = "internal_error"
# Stored width of a recipient column; a refused input longer than this is kept truncated.
RECIPIENT_WIDTH = 32
# The code of a request that needs a sender (SubmitRequest.sender_required) and has none.
SENDER_MISSING = "sender_missing"
# The code of a text that needs more parts than a request allows (SubmitRequest.max_parts)
# or than a concatenated SMS can have.
TEXT_TOO_LONG = "text_too_long"
# The code of a request whose validity (SubmitRequest.valid_until) ends before it may be sent.
INVALID_VALIDITY = "invalid_validity"


@dataclass(frozen=True, slots=True)
class Notify:
    """A per-message notification target: an http(s) callback URL (a submit's
    ``callback_url``) or a ``mailto:`` address (an email interface's ``Notify=``)."""

    url: str
    events: tuple[str, ...] = ("message.*",)
    format: str = TEXTGATE
    """The payload format (core.webhook_formats) the target expects."""
    secret: str | None = field(default=None, repr=False)
    """The signing secret, for a format signed with the client's own credential (None:
    the target's generated one). Out of the repr: a request may be logged."""


TargetResolver = Callable[[str, str, Sequence[str], str, str | None], Awaitable[str]]
"""(account id, url, events, format, secret) -> the id of the message-scoped target
(services.webhooks)."""


@quick_init
@dataclass(frozen=True, slots=True)
class SubmitRequest:
    account: Account
    recipients: Sequence[str]
    text: str
    sender: str | None = None
    schedule_at: datetime | None = None
    valid_until: datetime | None = None
    """When to stop trying (the messages expire if not handed off by then); None: the
    dispatcher's default validity from their due time. Must be later than now and than
    ``schedule_at`` (``INVALID_VALIDITY``)."""
    valid_for: timedelta | None = None
    """A validity counted from when the messages may first be sent (now, or
    ``schedule_at``), for interfaces whose clients give a duration; with ``valid_until``
    too, the earlier end counts."""
    client_ref: str | None = None
    idempotency_key: str | None = None
    interface: str = "native"
    encoding: Encoding | None = None
    client_ip: str | None = None
    """Address the request came from, checked against the account's allowlist; unknown
    (None) is refused by an allowlist unless ``operator``."""
    operator: bool = False
    """The operator's local interface (the CLI), which the allowlist does not cover."""
    references: Sequence[str | None] | None = None
    """A client reference per recipient (same length as ``recipients``), where the
    interface has one per recipient; else every message has ``client_ref``."""
    opted_out: Collection[str] = ()
    """Numbers (E.164) the interface knows to be opted out besides the account's own list
    (a MailUp list's unsubscribed): refused like the account's opt-outs."""
    truncate_to: int | None = None
    """Characters of ``text`` the interface's provider sends; the rest is cut off."""
    max_parts: int | None = None
    """The most SMS parts the client allows its text (a provider whose clients must ask
    for concatenation): a text that needs more is refused (``TEXT_TOO_LONG``)."""
    sender_required: bool = False
    """Refuse (``SENDER_MISSING``) a request that names no sender when the account has no
    default sender either."""
    quality: Quality | None = None
    invalid_number_fails_request: bool = False
    """Refuse the whole request if one recipient is not a number (some providers' default),
    instead of storing that recipient as rejected and sending to the others."""
    notify: Sequence[Notify] = ()
    """Who to tell about these messages' status changes, besides the account's webhooks."""
    device_id: str | None = None
    """Send through this phone of the account (android connector), whatever the sender."""
    sim_number: int | None = None
    """Send from this SIM of the phone (1-based, as the SMSGate app counts them)."""
    dialing_country: str | None = None
    """The country the sending phone dials from (its own number's): national numbers are
    read in it when the account sets no default country, as the phone would dial them."""
    receipt: ReceiptRequest | None = None
    """Which final statuses the submitter wants a receipt of (the SMPP server's customers:
    registered_delivery); None for none."""


@quick_init
@dataclass(frozen=True, slots=True)
class SubmitResult:
    order_id: str
    messages: Sequence[Message]
    replayed: bool = False

    @property
    def accepted(self) -> int:
        return sum(1 for m in self.messages if m.status != Status.REJECTED)


def check_no_nul(text: str) -> None:
    """A text with a NUL is refused wherever one comes in (a submit, a replace_sm)."""
    if "\x00" in text:
        raise InvalidRequest("the message text contains a NUL character")


def validity_end(req: SubmitRequest, now_ms: int) -> datetime | None:
    """When the request's messages stop waiting: ``valid_until``, or ``valid_for`` after
    they may first be sent (now, or their schedule), whichever ends first."""
    if req.valid_for is None:
        return req.valid_until
    start = max(from_ms(now_ms), req.schedule_at) if req.schedule_at else from_ms(now_ms)
    end = start + req.valid_for
    return end if req.valid_until is None else min(end, req.valid_until)


def check_validity(valid_until: datetime | None, schedule_at: datetime | None, now_ms: int) -> None:
    """A validity must end after the message may first be sent: after now and after its
    schedule (``INVALID_VALIDITY`` otherwise)."""
    if valid_until is None:
        return
    start = max(now_ms, to_ms(schedule_at)) if schedule_at is not None else now_ms
    if to_ms(valid_until) <= start:
        raise InvalidRequest(
            "the validity ends before the message may be sent (it is past, or before the schedule)",
            code=INVALID_VALIDITY,
        )
