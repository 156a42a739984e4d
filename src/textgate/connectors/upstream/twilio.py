"""Twilio Programmable Messaging (the Messages API) as an upstream provider (``type = "twilio"``).

What this module knows, and where Twilio documents it (twilio.com/docs):

- Sending ("Message resource", Create a Message): ``POST /2010-04-01/Accounts/{AccountSid}/
  Messages.json``, form-encoded ``To``, ``From`` and/or ``MessagingServiceSid``, ``Body``
  and ``StatusCallback``, with HTTP Basic auth: the Account SID and its Auth Token, or an
  API key's SID and secret ("API keys"). The answer is 201 with the Message resource as
  JSON, whose ``sid`` (SM...) names the message. A long text is one Message resource
  (``num_segments`` parts), so one sid and one status for the whole.
- A refusal is JSON ``{"code", "message", "more_info", "status"}``: :data:`REST_ERRORS`.
- Status callbacks ("Track the message status of outbound messages"): form fields
  ``MessageSid``, ``MessageStatus`` and, for ``failed`` and ``undelivered``, ``ErrorCode``
  (30xxx, kept as the message's error code) posted to the StatusCallback URL.
- Every webhook is signed ("Webhooks security", Validating signatures):
  ``X-Twilio-Signature`` = base64(HMAC-SHA1(Auth Token, the URL as Twilio called it +
  each POST parameter's name and value, sorted by name)). Unsigned or wrongly signed
  callbacks are refused with 403 before anything is read from them.
- Incoming messages ("Receive and reply to incoming messages"): the number's webhook
  posts ``From``, ``To``, ``Body``, ``MessageSid``, ``NumMedia``...; the answer is empty
  TwiML (``<Response/>``), which sends no reply.
- ``GET .../Messages/{Sid}.json`` reads one message's status (asked for reports overdue).
- ``ValidityPeriod`` (Message resource; error 90007): how long Twilio may keep the message
  queued, whole seconds from 1 to 36,000, the maximum being its default. Sent only when
  the client asked for a validity that ends sooner (:data:`MAX_VALIDITY_SECONDS`).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from textgate.connectors.base import QueryRef, Submission
from textgate.connectors.callbacks import CallbackAnswer, CallbackRefused, CallbackRequest
from textgate.connectors.upstream.callback_fields import (
    FORM,
    callback_url,
    check_base_url,
    form_fields,
    international,
)
from textgate.connectors.upstream.callback_maps import INBOUND_KIND, STATUS_KIND
from textgate.connectors.upstream.options import UpstreamOptions
from textgate.connectors.upstream.provider import Sessionless, no_callbacks
from textgate.connectors.upstream.replies import Reply, common_reply
from textgate.connectors.upstream.verdicts import Verdict, reply_for
from textgate.core.clock import from_ms, system_clock
from textgate.core.inbound import InboundMessage
from textgate.core.message import DeliveryReport, Status
from textgate.errors import ConnectorError

__all__ = [
    "MAX_VALIDITY_SECONDS",
    "REST_ERRORS",
    "STATUS_WORDS",
    "TwilioOptions",
    "TwilioProvider",
    "signature",
]

MAX_VALIDITY_SECONDS = 36_000
"""Twilio's longest ValidityPeriod, and its default (error 90007)."""

DEFAULT_BASE_URL: Final = "https://api.twilio.com"
API_VERSION: Final = "2010-04-01"
SIGNATURE_HEADER: Final = "x-twilio-signature"
EMPTY_TWIML: Final = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

# The error dictionary (twilio.com/docs/api/errors/<code>): what a refusal of the Messages
# API means for the message. A 4xx code that is not here is a final refusal.
REST_ERRORS: Final[dict[int, Verdict]] = {
    20003: Verdict.CREDENTIALS,  # Authenticate (HTTP 401): wrong SID, token or API key
    20404: Verdict.CREDENTIALS,  # Not found (HTTP 404): the account in the URL is not theirs
    20429: Verdict.THROTTLED,  # Too Many Requests (HTTP 429)
    21611: Verdict.THROTTLED,  # This 'From' number has exceeded the maximum number of
    #                            queued messages (10 hours of its rate): slow down
    63038: Verdict.RETRYABLE,  # Account exceeded the daily messages limit
    21211: Verdict.FINAL,  # Invalid 'To' Phone Number
    21212: Verdict.FINAL,  # Invalid 'From' Phone Number
    21408: Verdict.FINAL,  # Permission to send an SMS has not been enabled for the region
    21602: Verdict.FINAL,  # Message body is required
    21604: Verdict.FINAL,  # 'To' phone number is required
    21606: Verdict.FINAL,  # The 'From' phone number is not a valid message-capable number
    21608: Verdict.FINAL,  # The 'To' number is not verified (trial accounts)
    21609: Verdict.FINAL,  # Invalid 'StatusCallback' (callback_base_url is not public)
    21610: Verdict.FINAL,  # Attempt to send to unsubscribed recipient (it sent STOP)
    21612: Verdict.FINAL,  # The 'To' phone number is not currently reachable via SMS
    21614: Verdict.FINAL,  # 'To' number is not a valid mobile number
    21617: Verdict.FINAL,  # The concatenated message body exceeds the 1600 character limit
}

# Message resource, "Message status values": Twilio's word -> the report it is. None: no
# news (still on its way: queued, sending, or "sent" to the carrier, which is what textgate
# already records at hand-off). "read" is a delivery some channels confirm further.
STATUS_WORDS: Final[dict[str, Status | None]] = {
    "accepted": None,
    "scheduled": None,
    "queued": None,
    "sending": None,
    "sent": None,
    "receiving": None,
    "received": None,
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED,
    "partially_delivered": Status.UNDELIVERED,
    "failed": Status.FAILED,
    "canceled": Status.FAILED,
}

_SID: Final = re.compile(r"^(AC|SK|MG)[0-9a-fA-F]{32}$")


def _sid(prefix: str, what: str, value: str | None) -> str | None:
    if value is not None and not (_SID.match(value) and value.startswith(prefix)):
        raise ValueError(f"allowed: {what}, {prefix} followed by 32 hexadecimal digits")
    return value


class TwilioOptions(UpstreamOptions):
    base_url: str = DEFAULT_BASE_URL
    account_sid: str
    # Signs every webhook, so it is needed even when an API key sends.
    auth_token: SecretStr = Field(min_length=1)
    api_key_sid: str | None = None
    api_key_secret: SecretStr | None = None
    # From for messages that name no sender; a Messaging Service picks one from its pool
    # when neither the message nor this names one.
    default_sender: str | None = None
    messaging_service_sid: str | None = None
    # This gateway's public base URL as Twilio reaches it: the StatusCallback URL is made
    # from it, and so is the URL the signatures are checked against (behind a proxy, the
    # URL the gateway sees is not the one Twilio signed).
    callback_base_url: str | None = None
    report_query_after_seconds: float = Field(default=600.0, gt=0, le=86_400)

    _base = field_validator("base_url", "callback_base_url")(check_base_url)

    @field_validator("account_sid")
    @classmethod
    def _account(cls, value: str) -> str:
        _sid("AC", "the Account SID", value)
        return value

    @field_validator("api_key_sid")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return _sid("SK", "an API key SID", value)

    @field_validator("messaging_service_sid")
    @classmethod
    def _service(cls, value: str | None) -> str | None:
        return _sid("MG", "a Messaging Service SID", value)

    @model_validator(mode="after")
    def _whole(self) -> TwilioOptions:
        if (self.api_key_sid is None) != (self.api_key_secret is None):
            raise ValueError("set both api_key_sid and api_key_secret, or neither")
        return self


def signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """X-Twilio-Signature of a request to ``url`` with these POST parameters."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class TwilioProvider(Sessionless):
    type_name = "twilio"

    def __init__(self, options: TwilioOptions, *, connector: str = "", token: str = "") -> None:
        self.options = options
        self.report_query_after_ms: int | None = int(options.report_query_after_seconds * 1000)
        self._connector = connector
        self._token = token
        self._messages = f"{options.base_url}/{API_VERSION}/Accounts/{options.account_sid}/Messages"
        user, secret = options.account_sid, options.auth_token
        if options.api_key_sid is not None and options.api_key_secret is not None:
            user, secret = options.api_key_sid, options.api_key_secret
        pair = f"{user}:{secret.get_secret_value()}".encode()
        self._authorization = "Basic " + base64.b64encode(pair).decode()

    def secrets(self) -> Iterable[str]:
        yield self.options.auth_token.get_secret_value()
        if self.options.api_key_secret is not None:
            yield self.options.api_key_secret.get_secret_value()
        yield self._authorization.removeprefix("Basic ")

    def _callback(self, kind: str) -> str | None:
        return callback_url(self.options.callback_base_url, self._connector, self._token, kind)

    # ------------------------------------------------------------------ sending

    def send_request(self, client: httpx.AsyncClient, submission: Submission) -> httpx.Request:
        o = self.options
        form = {"To": submission.recipient, "Body": submission.text}
        sender = submission.sender or o.default_sender
        if sender:
            form["From"] = sender
        if o.messaging_service_sid is not None:
            form["MessagingServiceSid"] = o.messaging_service_sid
        if not sender and o.messaging_service_sid is None:
            raise ConnectorError(
                "twilio: the message names no sender and neither default_sender nor "
                "messaging_service_sid is set",
                retryable=False,
                code="no_sender",
            )
        status_url = self._callback(STATUS_KIND)
        if status_url is not None:
            form["StatusCallback"] = status_url
        if submission.valid_until is not None:
            left = (submission.valid_until - system_clock()) // 1000
            if left < MAX_VALIDITY_SECONDS:
                form["ValidityPeriod"] = str(max(1, left))
        return client.build_request(
            "POST",
            self._messages + ".json",
            data=form,
            headers={"Authorization": self._authorization, "Accept": "application/json"},
        )

    def read_sent(self, response: httpx.Response, submission: Submission) -> Reply:
        body = _json(response)
        code = _code(body.get("code"))
        if code is not None and REST_ERRORS.get(code) is Verdict.THROTTLED:
            return reply_for(Verdict.THROTTLED, "", str(code), response)
        common = common_reply(response)
        if common is not None:
            return common
        status = response.status_code
        if 200 <= status < 300:
            sid = body.get("sid")
            if isinstance(sid, str) and sid:
                return sid
            return ConnectorError.in_doubt("twilio answered without a sid", code="no_sid")
        detail = str(body.get("message") or f"HTTP {status}")[:200]
        if code is not None:
            verdict = REST_ERRORS.get(code, Verdict.FINAL)
            return reply_for(verdict, f"twilio refused it: {code} {detail}", str(code), response)
        if status == httpx.codes.UNAUTHORIZED:
            return reply_for(Verdict.CREDENTIALS, f"twilio: {detail}", "http_401", response)
        if 400 <= status < 500:
            return ConnectorError(
                f"twilio refused it: {detail}", retryable=False, code=f"http_{status}"
            )
        return ConnectorError.in_doubt(f"twilio answered HTTP {status}", code=f"http_{status}")

    # ------------------------------------------------------------------ status

    def status_request(self, client: httpx.AsyncClient, ref: QueryRef) -> httpx.Request | None:
        url = f"{self._messages}/{quote(ref.external_id, safe='')}.json"
        return client.build_request("GET", url, headers={"Authorization": self._authorization})

    def read_status(
        self, connector: str, response: httpx.Response, ref: QueryRef
    ) -> DeliveryReport | None:
        if response.status_code != httpx.codes.OK:
            return None
        body = _json(response)
        status = STATUS_WORDS.get(str(body.get("status") or ""))
        if status is None:
            return None
        code = body.get("error_code")
        return DeliveryReport(
            connector=connector,
            external_id=ref.external_id,
            status=status,
            at=_when(body.get("date_updated")),
            error_code=None if code in (None, "", 0) else str(code)[:64],
        )

    # ------------------------------------------------------------------ callbacks

    def read_callback(self, connector: str, kind: str, request: CallbackRequest) -> CallbackAnswer:
        if kind not in (STATUS_KIND, INBOUND_KIND):
            return no_callbacks(kind)
        params = self._signed(kind, request)
        found = {**request.query, **dict(params)}
        if kind == STATUS_KIND:
            return self._status(connector, found)
        return self._inbound(connector, found)

    def _signed(self, kind: str, request: CallbackRequest) -> list[tuple[str, str]]:
        """The POST parameters of a callback Twilio signed; CallbackRefused (403) for any
        other. The query string is part of the signed URL."""
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not given:
            raise CallbackRefused("no X-Twilio-Signature: not from Twilio", status=403)
        params: list[tuple[str, str]] = []
        if request.method == "POST":
            if FORM not in request.headers.get("content-type", ""):
                raise CallbackRefused("a Twilio callback is a form (POST) or a query (GET)")
            params = form_fields(request)
        token = self.options.auth_token.get_secret_value()
        for url in self._signed_urls(kind, request):
            if hmac.compare_digest(signature(token, url, params).encode(), given.encode()):
                return params
        raise CallbackRefused("the X-Twilio-Signature does not match", status=403)

    def _signed_urls(self, kind: str, request: CallbackRequest) -> list[str]:
        """The URLs Twilio may have signed: the public one (callback_base_url, as it was
        given to Twilio), then the one this process was called at (no proxy between)."""
        urls = []
        public = self._callback(kind)
        if public is not None:
            query = urlsplit(request.url).query
            urls.append(f"{public}?{query}" if query else public)
        urls.append(request.url)
        return list(dict.fromkeys(urls))

    def _status(self, connector: str, found: dict[str, str]) -> CallbackAnswer:
        sid = found.get("MessageSid") or found.get("SmsSid")
        if not sid:
            raise CallbackRefused("a status callback without MessageSid")
        word = found.get("MessageStatus") or found.get("SmsStatus") or ""
        status = STATUS_WORDS.get(word.lower())
        if status is None:  # no news, or a word this module does not know: nothing to record
            return CallbackAnswer(body="")
        code = found.get("ErrorCode") or None
        report = DeliveryReport(
            connector=connector,
            external_id=sid,
            status=status,
            at=from_ms(system_clock()),
            error_code=None if status is Status.DELIVERED or code is None else code[:64],
        )
        return CallbackAnswer(reports=(report,), body="")

    def _inbound(self, connector: str, found: dict[str, str]) -> CallbackAnswer:
        sender, recipient = found.get("From"), found.get("To")
        if not sender or not recipient:
            raise CallbackRefused("an incoming message callback needs From and To")
        message = InboundMessage(
            connector=connector,
            sender=international(sender),
            recipient=international(recipient),
            text=found.get("Body", ""),
            received_at=from_ms(system_clock()),
            external_id=found.get("MessageSid") or found.get("SmsSid") or None,
        )
        return CallbackAnswer(inbound=(message,), body=EMPTY_TWIML, content_type="text/xml")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _code(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _when(value: object) -> datetime:
    """A Message resource's date (RFC 2822, "Thu, 24 Aug 2023 05:01:45 +0000")."""
    if isinstance(value, str):
        try:
            return email.utils.parsedate_to_datetime(value).astimezone(UTC)
        except (TypeError, ValueError, IndexError):
            pass
    return datetime.now(UTC)
