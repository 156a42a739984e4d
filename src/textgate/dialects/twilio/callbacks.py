"""Status callbacks as Twilio sends them ("Track the message status of outbound messages";
shared/specs/dialects.md: "Status callbacks are form posts signed with X-Twilio-Signature").

A message sent with ``StatusCallback`` has its status changes posted there as a form:
``MessageSid`` and ``SmsSid`` (its SID), ``MessageStatus`` and ``SmsStatus`` (Twilio's word,
dialects.twilio.resource), ``To``, ``From``, ``ApiVersion`` and, for a message that failed,
``ErrorCode``. Each post is signed as Twilio signs its own (core.form_signature) with the
API key the message was sent with, which is what the client holds as its Auth Token: its
``RequestValidator`` checks the signature unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from textgate.core.form_signature import TWILIO_SIGNATURE_HEADER, twilio_signature
from textgate.core.message import Status
from textgate.core.webhook_formats import Rendered
from textgate.dialects.twilio.resource import API_VERSION, FAILED, STATUS_WORDS, UNKNOWN_ERROR
from textgate.dialects.twilio.resource import message_sid as sid_of

__all__ = ["FORMAT", "render", "sign"]

FORMAT: Final = "twilio"
FORM: Final = "application/x-www-form-urlencoded"
_MESSAGE_EVENT: Final = "message."


def render(event_id: str, event_type: str, at_ms: int, data: Mapping[str, Any]) -> Rendered | None:
    if not event_type.startswith(_MESSAGE_EVENT):
        return None  # Twilio's status callback is about sent messages only
    status = Status(data["status"])
    word = STATUS_WORDS.get(status, status.value)
    sid = sid_of(data["message_id"])
    fields = [
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


def sign(secret: str, url: str, body: str) -> Mapping[str, str]:
    params = parse_qsl(body, keep_blank_values=True)
    return {"Content-Type": FORM, TWILIO_SIGNATURE_HEADER: twilio_signature(secret, url, params)}
