"""Status callbacks as Twilio sends them ("Track the message status of outbound messages";
shared/specs/dialects.md: "Status callbacks are form posts signed with X-Twilio-Signature").

A message sent with ``StatusCallback`` has its status changes posted there as a form:
``AccountSid``, ``MessageSid`` and ``SmsSid`` (its SID), ``MessageStatus`` and ``SmsStatus``
(Twilio's word, dialects.twilio.resource), ``To``, ``From``, ``ApiVersion`` and, for a message
that failed, ``ErrorCode``. An account's own webhook subscription (native API) of the
``twilio`` format also hears received messages as Twilio posts them to a number's messaging
webhook. Each post is signed as Twilio signs its own ("Webhooks security", Validating signatures:
``X-Twilio-Signature`` is the base64 of the HMAC-SHA1 of the URL followed by each POST
parameter's name and value, sorted by name) with the API key the message was sent with,
which is what the client holds as its Auth Token: its ``RequestValidator`` checks the
signature unchanged (a subscription's own signing secret for the subscription's posts).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from textgate.core.message import Status
from textgate.core.webhook_formats import Rendered
from textgate.core.webhooks import INBOUND_RECEIVED
from textgate.dialects.twilio.resource import (
    API_VERSION,
    FAILED,
    STATUS_WORDS,
    UNKNOWN_ERROR,
    account_sid,
)
from textgate.dialects.twilio.resource import message_sid as sid_of

__all__ = ["FORMAT", "render", "sign", "signature"]

FORMAT: Final = "twilio"
FORM: Final = "application/x-www-form-urlencoded"
SIGNATURE_HEADER: Final = "X-Twilio-Signature"
_MESSAGE_EVENT: Final = "message."


def render(event_id: str, event_type: str, at_ms: int, data: Mapping[str, Any]) -> Rendered | None:
    if event_type == INBOUND_RECEIVED:
        return _incoming(data)
    if not event_type.startswith(_MESSAGE_EVENT):
        return None
    status = Status(data["status"])
    word = STATUS_WORDS.get(status, status.value)
    sid = sid_of(data["message_id"])
    fields = [
        *_account(data),
        ("ApiVersion", API_VERSION),
        ("MessageSid", sid),
        ("MessageStatus", word),
        ("SmsSid", sid),
        ("SmsStatus", word),
        ("To", data.get("to") or ""),
    ]
    if data.get("from"):
        fields.append(("From", data["from"]))
    if status in FAILED:
        fields.append(("ErrorCode", str(UNKNOWN_ERROR)))
    return Rendered(urlencode(fields), FORM)


def signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """X-Twilio-Signature of a post to ``url`` with these parameters. The Twilio connector
    checks the same signature on what Twilio sends it (connectors.upstream.twilio); the
    two are written apart because a dialect and a connector share no code but core's,
    and a provider's wire format is not core's."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def sign(secret: str, url: str, body: str) -> Mapping[str, str]:
    params = parse_qsl(body, keep_blank_values=True)
    return {"Content-Type": FORM, SIGNATURE_HEADER: signature(secret, url, params)}


def _account(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``AccountSid``, which Twilio's callbacks carry first (events queued before the
    gateway put the account in their data have none)."""
    account = data.get("account_id")
    return [("AccountSid", account_sid(account))] if isinstance(account, str) and account else []


def _incoming(data: Mapping[str, Any]) -> Rendered:
    """A received message as Twilio posts it to a number's messaging webhook ("Receive and
    reply to incoming messages"): what an application's existing handler reads."""
    sid = sid_of(data["inbound_id"])
    fields = [
        *_account(data),
        ("ApiVersion", API_VERSION),
        ("Body", data.get("text") or ""),
        ("From", data.get("from") or ""),
        ("MessageSid", sid),
        ("NumMedia", "0"),
        ("NumSegments", str(data.get("parts") or 1)),
        ("SmsMessageSid", sid),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("To", data.get("to") or ""),
    ]
    return Rendered(urlencode(fields), FORM)
