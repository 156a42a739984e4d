"""The Vonage (formerly Nexmo) SMS API as an upstream provider (``type = "vonage"``).

What this module knows, and where Vonage documents it (developer.vonage.com):

- Sending ("SMS API reference", Send an SMS): ``POST https://rest.nexmo.com/sms/json``,
  form-encoded ``api_key``, ``api_secret``, ``from``, ``to`` (international digits, no
  '+'), ``text``, ``type`` (``unicode`` for a text GSM-7 cannot carry), ``callback`` (the
  delivery-receipt URL, over the dashboard's), ``status-report-req`` and ``client-ref``.
  The answer is 200 with ``{"message-count", "messages": [...]}``: one entry per part of a
  long text, each with its ``status`` ("0": accepted) and ``message-id``, or an
  ``error-text``. The status codes: :data:`SEND_STATUSES`.
- Delivery receipts ("Delivery receipts"): one per part, by GET, POST form or POST JSON
  (the dashboard's choice), with ``messageId``, ``status`` (:data:`DLR_STATUSES`),
  ``err-code``, ``scts`` (YYMMDDHHMM), ``msisdn``, ``to`` and ``client-ref`` when the
  message had one.
- Long messages: each part has its own message-id and its own receipt, while textgate
  keeps one operator id per message. So a message of several parts is sent with
  ``client-ref`` = :data:`PARTS_REF` + textgate's message id, which Vonage repeats in every
  part's receipt, and that is the id textgate records: each part's receipt finds the
  message from the receipt alone (in any process, after any restart). The first final
  receipt of any part settles the message; later parts' receipts are matched and change
  nothing. A one-part message keeps Vonage's message-id.
- Signed webhooks ("Signing messages"): with the account's signature secret, every
  webhook carries ``timestamp``, ``nonce`` and ``sig``: the parameters but ``sig``, sorted
  by name, each as ``&name=value`` with '&' and '=' in values made '_'; then the MD5 of
  that and the secret ("MD5 hash", lower-case hex) or its HMAC under the secret (MD5,
  SHA-1, SHA-256, SHA-512; Vonage writes these in upper case). With ``signature_secret``
  set, unsigned or wrongly signed webhooks are refused (403).
- Inbound messages ("Inbound SMS"): ``msisdn``, ``to``, ``messageId``, ``text``, ``type``,
  ``keyword``, ``message-timestamp``; the parts of a long one come one by one with
  ``concat=true``, ``concat-ref``, ``concat-total`` and ``concat-part`` (textgate joins
  them). Vonage wants 200 or 204, else it sends again.
- ``ttl`` (Send an SMS): how long Vonage attempts delivery, in milliseconds from 20,000 to
  604,800,000, 259,200,000 (72 h) by default. Sent only when the client asked for a
  validity that ends sooner than the default (:data:`DEFAULT_TTL_MS`); below the minimum,
  the minimum.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal

import httpx
from pydantic import Field, SecretStr, field_validator

from textgate.connectors.base import QueryRef, Submission
from textgate.connectors.callbacks import CallbackAnswer, CallbackRefused, CallbackRequest
from textgate.connectors.upstream.callback_fields import (
    callback_url,
    check_base_url,
    fields,
    international,
)
from textgate.connectors.upstream.callback_maps import INBOUND_KIND, STATUS_KIND
from textgate.connectors.upstream.options import UpstreamOptions
from textgate.connectors.upstream.provider import Sessionless, no_callbacks
from textgate.connectors.upstream.replies import Priced, Reply, common_reply
from textgate.connectors.upstream.verdicts import Verdict, reply_for
from textgate.core.clock import from_ms, system_clock
from textgate.core.encoding import Encoding
from textgate.core.inbound import Concatenation, InboundMessage
from textgate.core.message import DeliveryReport, Status
from textgate.errors import ConnectorError

__all__ = [
    "DEFAULT_TTL_MS",
    "DLR_STATUSES",
    "MIN_TTL_MS",
    "PARTS_REF",
    "SEND_STATUSES",
    "VonageOptions",
    "VonageProvider",
    "signature",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://rest.nexmo.com"
PARTS_REF: Final = "tg-parts:"
DEFAULT_TTL_MS: Final = 259_200_000
"""Vonage's default ``ttl`` (72 hours), sent only when a client asks for less."""
MIN_TTL_MS: Final = 20_000
"""The shortest ``ttl`` Vonage takes."""
"""Starts the client-ref of a message sent in several parts (the rest is its id)."""
_ACCEPTED: Final = "0"

# "Troubleshooting SMS", SMS API error codes (also developer.vonage.com/api-errors/sms):
# the ``status`` of a messages[] entry -> what it means for the message.
SEND_STATUSES: Final[dict[str, tuple[Verdict, str]]] = {
    "1": (Verdict.THROTTLED, "Throttled"),
    "2": (Verdict.FINAL, "Missing Parameters"),
    "3": (Verdict.FINAL, "Invalid Parameters"),
    "4": (Verdict.CREDENTIALS, "Invalid Credentials"),
    "5": (Verdict.RETRYABLE, "Internal Error"),
    "6": (Verdict.FINAL, "Invalid Message"),
    "7": (Verdict.FINAL, "Number Barred"),
    "8": (Verdict.CREDENTIALS, "Partner Account Barred"),
    "9": (Verdict.RETRYABLE, "Partner Quota Violation"),  # no credit: passes once topped up
    "10": (Verdict.THROTTLED, "Too Many Existing Binds"),  # "Back-off and retry"
    "11": (Verdict.CREDENTIALS, "Account Not Enabled For HTTP"),
    "12": (Verdict.FINAL, "Message Too Long"),
    "14": (Verdict.CREDENTIALS, "Invalid Signature"),
    "15": (Verdict.FINAL, "Invalid Sender Address"),
    "22": (Verdict.FINAL, "Invalid Network Code"),
    "23": (Verdict.FINAL, "Invalid Callback Url"),
    "29": (Verdict.FINAL, "Non-Whitelisted Destination"),
    "32": (Verdict.CREDENTIALS, "Signature And API Secret Disallowed"),
    "33": (Verdict.FINAL, "Number De-activated"),
}

# "Delivery receipts", the status field -> the report it is (None: no news). "failed" is
# the operator's failure to deliver; "rejected" is a refusal by Vonage or the carrier
# before any attempt. The err-code (the same guide's DLR error codes: 1 unknown, 2-3
# absent subscriber, 4 call barred, 6 anti-spam, 9 illegal number, 99 general error...)
# is kept as the message's error code, as err_<code>.
DLR_STATUSES: Final[dict[str, Status | None]] = {
    "delivered": Status.DELIVERED,
    "expired": Status.EXPIRED,
    "failed": Status.UNDELIVERED,
    "rejected": Status.FAILED,
    "buffered": Status.BUFFERED,
    "accepted": None,
    "unknown": None,
}

SignatureMethod = Literal["md5hash", "md5", "sha1", "sha256", "sha512"]


class VonageOptions(UpstreamOptions):
    base_url: str = DEFAULT_BASE_URL
    api_key: str = Field(min_length=1)
    api_secret: SecretStr = Field(min_length=1)
    # Set: every webhook must carry a valid sig (the dashboard's "Signature secret" and
    # its signature method).
    signature_secret: SecretStr | None = None
    signature_method: SignatureMethod = "md5hash"
    # from for messages that name no sender.
    default_sender: str | None = None
    # This gateway's public base URL as Vonage reaches it: each message names its
    # receipts' URL (``callback``). Unset, receipts go to the dashboard's URL.
    callback_base_url: str | None = None

    _base = field_validator("base_url", "callback_base_url")(check_base_url)


def signature(params: dict[str, str], secret: str, method: SignatureMethod) -> str:
    """The sig of a webhook's parameters (``sig`` itself left out), in lower case."""
    signed = "".join(
        f"&{name}={value.replace('&', '_').replace('=', '_')}"
        for name, value in sorted(params.items())
        if name != "sig"
    )
    if method == "md5hash":
        return hashlib.md5((signed + secret).encode(), usedforsecurity=False).hexdigest()
    return hmac.new(secret.encode(), signed.encode(), method).hexdigest()


class VonageProvider(Sessionless):
    type_name = "vonage"
    # The SMS API has no status look-up: receipts come by webhook only.
    report_query_after_ms: int | None = None

    def __init__(self, options: VonageOptions, *, connector: str = "", token: str = "") -> None:
        self.options = options
        self._connector = connector
        self._token = token

    def secrets(self) -> Iterable[str]:
        yield self.options.api_secret.get_secret_value()
        if self.options.signature_secret is not None:
            yield self.options.signature_secret.get_secret_value()

    # ------------------------------------------------------------------ sending

    def send_request(self, client: httpx.AsyncClient, submission: Submission) -> httpx.Request:
        o = self.options
        sender = submission.sender or o.default_sender
        if not sender:
            raise ConnectorError(
                "vonage: the message names no sender and default_sender is not set",
                retryable=False,
                code="no_sender",
            )
        form = {
            "api_key": o.api_key,
            "api_secret": o.api_secret.get_secret_value(),
            "from": sender.removeprefix("+") if sender[1:].isdigit() else sender,
            "to": submission.recipient.removeprefix("+"),
            "text": submission.text,
            "type": "unicode" if submission.encoding == Encoding.UCS2 else "text",
            "status-report-req": "1",
            "client-ref": _client_ref(submission),
        }
        receipts = callback_url(o.callback_base_url, self._connector, self._token, STATUS_KIND)
        if receipts is not None:
            form["callback"] = receipts
        if submission.valid_until is not None:
            left = submission.valid_until - system_clock()
            if left < DEFAULT_TTL_MS:
                form["ttl"] = str(max(MIN_TTL_MS, left))
        return client.build_request(
            "POST", o.base_url + "/sms/json", data=form, headers={"Accept": "application/json"}
        )

    def read_sent(self, response: httpx.Response, submission: Submission) -> Reply:
        common = common_reply(response)
        if common is not None:
            return common
        status = response.status_code
        if status != httpx.codes.OK:
            if 400 <= status < 500:
                return ConnectorError(
                    f"vonage refused it: HTTP {status}", retryable=False, code=f"http_{status}"
                )
            return ConnectorError.in_doubt(f"vonage answered HTTP {status}", code=f"http_{status}")
        entries = [e for e in _json(response).get("messages") or () if isinstance(e, dict)]
        if not entries:
            return ConnectorError.in_doubt("vonage answered without messages", code="no_id")
        taken = [e for e in entries if str(e.get("status")) == _ACCEPTED and e.get("message-id")]
        refused = [e for e in entries if str(e.get("status")) != _ACCEPTED]
        if not taken:
            return _refusal(refused[0] if refused else entries[0], response)
        if refused:
            # Some parts went: sending the message again would repeat them.
            log.warning(
                "vonage took %d of the %d parts of %s: %s",
                len(taken),
                len(entries),
                submission.message_id,
                refused[0].get("error-text"),
            )
        if submission.segments > 1:
            return _priced(_client_ref(submission), taken)
        if len(entries) > 1:
            log.warning(
                "vonage sent %s in %d parts: only the first part's receipt will match it",
                submission.message_id,
                len(entries),
            )
        return _priced(str(taken[0]["message-id"]), taken)

    def status_request(self, client: httpx.AsyncClient, ref: QueryRef) -> httpx.Request | None:
        return None

    def read_status(
        self, connector: str, response: httpx.Response, ref: QueryRef
    ) -> DeliveryReport | None:
        return None

    # ------------------------------------------------------------------ callbacks

    def read_callback(self, connector: str, kind: str, request: CallbackRequest) -> CallbackAnswer:
        if kind not in (STATUS_KIND, INBOUND_KIND):
            return no_callbacks(kind)
        found = self._verified(request)
        if kind == STATUS_KIND:
            return _receipt(connector, found)
        return _inbound(connector, found)

    def _verified(self, request: CallbackRequest) -> dict[str, str]:
        found = fields(request)
        secret = self.options.signature_secret
        if secret is None:
            return found
        given = found.get("sig", "")
        if not given:
            raise CallbackRefused("no sig: unsigned, and signature_secret is set", status=403)
        expected = signature(found, secret.get_secret_value(), self.options.signature_method)
        if not hmac.compare_digest(expected.encode(), given.lower().encode()):
            raise CallbackRefused("the sig does not match", status=403)
        return found


def _priced(external_id: str, taken: list[dict[str, Any]]) -> Reply:
    """The id, with what the parts taken cost when every one says (``message-price``, in
    the account's currency, in each entry of the SMS API's answer)."""
    try:
        price = sum((Decimal(str(e["message-price"])) for e in taken), Decimal(0))
    except (KeyError, ArithmeticError):
        return external_id
    return Priced(external_id, price) if price.is_finite() else external_id


def _client_ref(submission: Submission) -> str:
    if submission.segments > 1:
        return PARTS_REF + submission.message_id
    return submission.message_id


def _refusal(entry: dict[str, Any], response: httpx.Response) -> Reply:
    code = str(entry.get("status"))
    verdict, meaning = SEND_STATUSES.get(code, (Verdict.FINAL, "Unknown"))
    text = str(entry.get("error-text") or meaning)[:200]
    return reply_for(verdict, f"vonage refused it: {code} {text}", f"status_{code}", response)


def _receipt(connector: str, found: dict[str, str]) -> CallbackAnswer:
    message_id = found.get("messageId")
    if not message_id:
        raise CallbackRefused("a delivery receipt without messageId")
    status = DLR_STATUSES.get(found.get("status", "").lower())
    if status is None:
        return CallbackAnswer(body="")
    reference = found.get("client-ref", "")
    code = found.get("err-code", "")
    report = DeliveryReport(
        connector=connector,
        external_id=reference if reference.startswith(PARTS_REF) else message_id,
        status=status,
        at=_scts(found.get("scts", "")),
        error_code=None if status is Status.DELIVERED or code in ("", "0") else f"err_{code}",
    )
    return CallbackAnswer(reports=(report,), body="")


def _inbound(connector: str, found: dict[str, str]) -> CallbackAnswer:
    sender, recipient = found.get("msisdn"), found.get("to")
    if not sender or not recipient:
        raise CallbackRefused("an inbound message needs msisdn and to")
    if found.get("type") == "binary" or "text" not in found:
        log.info("vonage: a %s inbound message from %s is not text: not kept", connector, sender)
        return CallbackAnswer(body="")
    part = None
    if found.get("concat") == "true":
        part = _part(found)
    message = InboundMessage(
        connector=connector,
        sender=international(sender),
        recipient=international(recipient),
        text=found["text"],
        received_at=from_ms(system_clock()),
        external_id=found.get("messageId") or None,
        part=part,
    )
    return CallbackAnswer(inbound=(message,), body="")


def _part(found: dict[str, str]) -> Concatenation:
    ref, total, seq = (found.get(k, "") for k in ("concat-ref", "concat-total", "concat-part"))
    if not (total.isdigit() and seq.isdigit()) or not 1 <= int(seq) <= int(total):
        raise CallbackRefused("concat-total and concat-part are not part numbers")
    # Stored as an integer: a reference that is not one is hashed (the same for every part).
    number = int(ref) if ref.isdigit() else zlib.crc32(ref.encode())
    return Concatenation(reference=number % 2**31, total=int(total), sequence=int(seq))


def _scts(value: str) -> datetime:
    """When the operator reported it (YYMMDDHHMM, UTC); now if it cannot be read."""
    try:
        return datetime.strptime(value, "%y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
