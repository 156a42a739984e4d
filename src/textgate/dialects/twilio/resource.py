"""The Message resource as Twilio writes it, and the SIDs that name textgate's records.

Twilio's SIDs are two letters and 32 hexadecimal digits ("Message resource": ``sid`` SM...,
``account_sid`` AC...). textgate's ids are ULIDs, 128-bit numbers (core.ids): written in
hexadecimal they are exactly 32 digits, so a message's SID is ``SM`` + its id's number and
an account's is ``AC`` + its id's, both ways without a table. Client libraries that check
the ``AC`` prefix of the Account SID they are given (twilio-node does) take it as it is.

The resource's fields and their types follow Twilio's Message resource: ``num_segments``
and ``num_media`` are strings, dates are RFC 2822 in UTC, ``error_code`` a number or null,
``direction`` ``outbound-api`` for a message sent through the API and ``inbound`` for one
received (status ``received``), as Twilio lists both under an account's Messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime
from typing import Any, Final

from textgate.core.accounts import Account
from textgate.core.ids import id_from_value, id_value
from textgate.core.inbound import Inbound
from textgate.core.message import Message, Status

__all__ = [
    "API_VERSION",
    "FAILED",
    "STATUS_WORDS",
    "UNKNOWN_ERROR",
    "account_resource",
    "account_sid",
    "id_of_sid",
    "inbound_resource",
    "message_resource",
    "message_sid",
    "messages_uri",
]

API_VERSION: Final = "2010-04-01"

# textgate's status -> Twilio's word ("Message resource", "Message status values"). Twilio
# has no word for a message whose validity ran out before it left (expired) or one the
# account's rules refused: both are "failed", as Twilio reports a message it could not
# send. A message with the carrier but not yet confirmed (buffered) is "sent".
STATUS_WORDS: Final[Mapping[Status, str]] = {
    Status.SCHEDULED: "scheduled",
    Status.QUEUED: "queued",
    Status.SENDING: "sending",
    Status.SENT: "sent",
    Status.BUFFERED: "sent",
    Status.DELIVERED: "delivered",
    Status.UNDELIVERED: "undelivered",
    Status.FAILED: "failed",
    Status.EXPIRED: "failed",
    Status.CANCELLED: "canceled",
    Status.REJECTED: "failed",
    Status.RECEIVED: "received",
}

# Twilio's error for a message that failed for a reason it does not name: 30008 "Unknown
# error" (twilio.com/docs/errors/30008). The reason in textgate's words goes beside it, in
# error_message.
UNKNOWN_ERROR: Final = 30008
FAILED: Final = frozenset({Status.FAILED, Status.UNDELIVERED, Status.EXPIRED, Status.REJECTED})
"""The statuses Twilio reports with an error code."""
_HANDED_OFF: Final = frozenset({Status.SENT, Status.BUFFERED, Status.DELIVERED, Status.UNDELIVERED})
_HEX: Final = frozenset("0123456789abcdefABCDEF")


def _sid(prefix: str, ident: str) -> str:
    return f"{prefix}{id_value(ident):032x}"


def message_sid(message_id: str) -> str:
    return _sid("SM", message_id)


def account_sid(account_id: str) -> str:
    return _sid("AC", account_id)


def id_of_sid(prefix: str, sid: str) -> str | None:
    """The id a SID of this kind names; None when it is not one (wrong prefix or digits)."""
    digits = sid[len(prefix) :]
    if not sid.startswith(prefix) or len(digits) != 32 or not set(digits) <= _HEX:
        return None
    return id_from_value(int(digits, 16))


def messages_uri(account: str) -> str:
    """The path of an account's Messages list, as the resource's ``uri`` fields give it."""
    return f"/{API_VERSION}/Accounts/{account}/Messages"


def _date(value: datetime | None) -> str | None:
    return None if value is None else format_datetime(value, usegmt=True)


def message_resource(m: Message) -> dict[str, Any]:
    account = account_sid(m.account_id)
    sid = message_sid(m.id)
    failed = m.status in FAILED
    return {
        "account_sid": account,
        "api_version": API_VERSION,
        "body": m.text,
        "date_created": _date(m.created_at),
        "date_sent": _date(m.updated_at) if m.status in _HANDED_OFF else None,
        "date_updated": _date(m.updated_at),
        "direction": "outbound-api",
        "error_code": UNKNOWN_ERROR if failed else None,
        "error_message": (m.reason or m.status.value) if failed else None,
        "from": m.sender,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": str(m.segments),
        "price": None,
        "price_unit": None,
        "sid": sid,
        "status": STATUS_WORDS.get(m.status, m.status.value),
        "subresource_uris": {"media": f"{messages_uri(account)}/{sid}/Media.json"},
        "to": m.recipient,
        "uri": f"{messages_uri(account)}/{sid}.json",
    }


def inbound_resource(m: Inbound, account_id: str) -> dict[str, Any]:
    """A received message as Twilio lists one ("Message resource": ``direction`` inbound,
    ``status`` received, ``num_segments`` the parts it came in)."""
    account = account_sid(account_id)
    sid = message_sid(m.id)
    received = _date(m.received_at)
    return {
        "account_sid": account,
        "api_version": API_VERSION,
        "body": m.text,
        "date_created": received,
        "date_sent": received,
        "date_updated": received,
        "direction": "inbound",
        "error_code": None,
        "error_message": None,
        "from": m.sender,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": str(m.parts),
        "price": None,
        "price_unit": None,
        "sid": sid,
        "status": STATUS_WORDS[Status.RECEIVED],
        "subresource_uris": {"media": f"{messages_uri(account)}/{sid}/Media.json"},
        "to": m.recipient,
        "uri": f"{messages_uri(account)}/{sid}.json",
    }


def account_resource(account: Account) -> dict[str, Any]:
    """The Account resource ("Account", twilio.com/docs/iam/api/account), for clients that
    fetch it to check their credentials. ``auth_token`` is null: textgate keeps no key in
    a form it could show."""
    sid = account_sid(account.id)
    base = f"/{API_VERSION}/Accounts/{sid}"
    return {
        "auth_token": None,
        "date_created": _date(account.created_at),
        "date_updated": _date(account.created_at),
        "friendly_name": account.name,
        "owner_account_sid": sid,
        "sid": sid,
        "status": "active",
        "subresource_uris": {"messages": f"{base}/Messages.json"},
        "type": "Full",
        "uri": f"{base}.json",
    }
