"""``xml@<domain>`` (seed 004): the body is an ASPSMS XML request; the XML reply is mailed
back to the sender ("If there is no sender address, the XML reply will be silently
discarded").

The request format is ASPSMS's XML interface (www.aspsms.com/en/xml/)::

    <aspsms>
      <Userkey>...</Userkey><Password>...</Password><Originator>...</Originator>
      <Recipient><PhoneNumber>0041...</PhoneNumber><TransRefNumber>...</TransRefNumber></Recipient>
      <MessageData>text</MessageData>
      <URLDeliveryNotification>...</URLDeliveryNotification>
      <URLNonDeliveryNotification>...</URLNonDeliveryNotification>
      <URLBufferedMessageNotification>...</URLBufferedMessageNotification>
      <DeferredDeliveryTime>ddmmyyyyhhmmss</DeferredDeliveryTime><TimeZone>+1</TimeZone>
      <Action>SendTextSMS</Action>
    </aspsms>

and the reply ``<aspsms><ErrorCode>1</ErrorCode><ErrorDescription>Ok</ErrorDescription>
</aspsms>`` (``<Credits>`` for ``ShowCredits``). Notification URLs become message-scoped
webhooks: textgate POSTs its signed JSON event to them (ASPSMS itself calls them with GET
and substitutes placeholders, which textgate does not). ``DeferredDeliveryTime`` schedules
the messages; it is local time ``ddmmyyyyhhmmss`` in GMT+1 unless ``<TimeZone>`` gives
another offset in hours (ASPSMS XML interface). An element textgate does not carry out
(binary data, flashing SMS, MCC/MNC, ...) is answered with an error, never ignored: the
client would believe it done.

The XML is parsed with defusedxml and any DTD refused, so entity expansion ("billion
laughs") and external entities cannot happen; size and recipient count are bounded.
"""

from __future__ import annotations

# The standard library builds the reply; requests are only ever parsed through defusedxml.
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]

from textgate.core.accounts import Account
from textgate.core.encoding import Encoding
from textgate.core.mail import Email
from textgate.core.policy import Reason
from textgate.core.pricing import format_amount
from textgate.dialects.aspsms.addresses import DEFAULT_ORIGINATOR, INTERFACE, NOTIFY_EVENTS
from textgate.dialects.base import lookup
from textgate.dialects.mail import Refused, sms_sender
from textgate.errors import (
    AuthenticationFailed,
    GatewayError,
    InsufficientCredit,
    InvalidNumber,
    InvalidRequest,
    InvalidSender,
    PolicyDenied,
    RateLimited,
    StorageUnavailable,
)
from textgate.services.registry import Services
from textgate.services.submit_request import Notify, SubmitRequest

__all__ = [
    "MAX_XML_CHARS",
    "URL_ELEMENTS",
    "Reply",
    "XmlRequest",
    "answer",
    "execute",
    "parse_request",
    "refusal",
    "render_reply",
    "with_schedule",
]

MAX_XML_CHARS = 256 * 1024
MAX_RECIPIENTS = 1000
MAX_REF = 100

# ASPSMS XML status codes (ErrorCode / ErrorDescription of the XML interface; the same
# numbers as its JSON API's StatusCode). Seed 004 refers to the XML interface
# (www.aspsms.com/en/xml/) without listing them; these are that interface's.
OK = (1, "Ok")
AUTH_FAILED = (3, "Authorization failed")
NO_CREDITS = (5, "Not enough credits")
INVALID_ORIGINATOR = (10, "Invalid originator")
INVALID_MESSAGE = (11, "Invalid message data")
INVALID_BINARY_DATA = (12, "Invalid binary data")
INVALID_BINARY_FILE = (13, "Invalid binary file")
INVALID_MCC = (14, "Invalid MCC")
INVALID_MNC = (15, "Invalid MNC")
INVALID_XSER = (16, "Invalid XSer")
INVALID_URL_BUFFERED = (17, "Invalid URL buffered message notification string")
INVALID_URL_DELIVERY = (18, "Invalid URL delivery notification string")
INVALID_URL_NON_DELIVERY = (19, "Invalid URL non delivery notification string")
MISSING_RECIPIENT = (20, "Missing a recipient")
INVALID_DEFERRED = (22, "Invalid deferred delivery time")
UNAVAILABLE = (24, "Service temporarily not available")
ACCESS_DENIED = (25, "User access denied")

# textgate error -> ASPSMS status (most specific first).
_CODES: tuple[tuple[type[GatewayError], tuple[int, str]], ...] = (
    (AuthenticationFailed, AUTH_FAILED),
    (InsufficientCredit, NO_CREDITS),
    (InvalidSender, INVALID_ORIGINATOR),
    (InvalidNumber, MISSING_RECIPIENT),
    (RateLimited, UNAVAILABLE),
    (StorageUnavailable, UNAVAILABLE),
    (InvalidRequest, INVALID_MESSAGE),
)
# Notification URL elements -> (the events they hear, the status of a bad one).
_URLS: Mapping[str, tuple[tuple[str, ...], tuple[int, str]]] = {
    "URLDeliveryNotification": (("message.delivered",), INVALID_URL_DELIVERY),
    "URLNonDeliveryNotification": (
        tuple(e for e in NOTIFY_EVENTS["FAILED"]),
        INVALID_URL_NON_DELIVERY,
    ),
    "URLBufferedMessageNotification": (("message.buffered",), INVALID_URL_BUFFERED),
}
URL_ELEMENTS = tuple(_URLS)
"""The notification URLs a request may give (the same names in the JSON API)."""
# The elements textgate carries out (compared without regard to case).
_SUPPORTED = frozenset(
    name.lower()
    for name in (
        "Userkey", "Password", "Originator", "Recipient", "MessageData", "Action",
        "DeferredDeliveryTime", "TimeZone", *_URLS,
    )
)  # fmt: skip
# ASPSMS XML elements textgate does not carry out -> the status naming what is refused
# (the interface's own code where it has one; else "Invalid message data").
_UNSUPPORTED: Mapping[str, tuple[int, str]] = {
    "binaryfiledatahex": INVALID_BINARY_DATA,
    "binaryfilelocation": INVALID_BINARY_FILE,
    "mcc": INVALID_MCC,
    "mnc": INVALID_MNC,
    "xser": INVALID_XSER,
}
# ASPSMS: "ddmmyyyyhhmmss", local time of GMT+1 unless TimeZone says otherwise.
_DEFERRED = re.compile(r"[0-9]{14}")
_TIMEZONE = re.compile(r"[+-]?[0-9]{1,2}")
DEFAULT_OFFSET_HOURS = 1
SEND = "SendTextSMS"
REPLY_SUBJECT = "ASPSMS XML reply"
SOURCE = "aspsms-xml"
CREDITS = "ShowCredits"


@dataclass(frozen=True, slots=True)
class XmlRequest:
    action: str
    user_key: str
    password: str
    originator: str | None = None
    text: str = ""
    recipients: tuple[tuple[str, str | None], ...] = ()
    """(phone number, TransRefNumber)."""
    urls: Mapping[str, str] = field(default_factory=dict)
    deferred: datetime | None = None
    """When to send (DeferredDeliveryTime); None: at once."""
    error: tuple[tuple[int, str], str] | None = None
    """A readable request that cannot be carried out: the status and detail to answer."""
    interface: str = INTERFACE
    encoding: Encoding | None = None
    """The encoding the client insists on (the JSON API's ForceGSM7bit); None: chosen."""


class _Invalid(Exception):
    def __init__(self, status: tuple[int, str], detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _refuse(text: str) -> Refused:
    return Refused(554, "5.6.0", text)


def _text(root: ET.Element, name: str) -> str:
    found = [c for c in root if c.tag.lower() == name.lower()]
    if len(found) > 1:
        raise _refuse(f"the XML request has <{name}> more than once")
    return (found[0].text or "").strip() if found else ""


def parse_request(body: str) -> XmlRequest:
    """Parse an ASPSMS XML request; raises :class:`Refused` if it cannot be read."""
    if len(body) > MAX_XML_CHARS:
        raise Refused(552, "5.3.4", f"the XML request is larger than {MAX_XML_CHARS} characters")
    try:
        # A str: the MIME layer already decoded the declared charset, so the XML
        # declaration's encoding no longer applies (expat is told the text is Unicode).
        root: ET.Element = fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise _refuse("the XML request may not use a DTD or entities") from exc
    except ET.ParseError as exc:
        raise _refuse("the XML request is not well-formed XML") from exc
    if root.tag.lower() != "aspsms":
        raise _refuse("the XML request must have <aspsms> as its root element")
    recipients: list[tuple[str, str | None]] = []
    for node in root:
        if node.tag.lower() != "recipient":
            continue
        if len(recipients) >= MAX_RECIPIENTS:
            raise _refuse(f"the XML request has more than {MAX_RECIPIENTS} recipients")
        ref = _text(node, "TransRefNumber")[:MAX_REF] or None
        recipients.append((_text(node, "PhoneNumber"), ref))
    request = XmlRequest(
        action=_text(root, "Action") or SEND,
        user_key=_text(root, "Userkey"),
        password=_text(root, "Password"),
        originator=_text(root, "Originator") or None,
        text=_text(root, "MessageData"),
        recipients=tuple(recipients),
        urls={name: url for name in _URLS if (url := _text(root, name))},
    )
    try:
        _supported(root)
    except _Invalid as exc:
        return replace(request, error=(exc.status, exc.detail))
    return with_schedule(request, _text(root, "DeferredDeliveryTime"), _text(root, "TimeZone"))


def with_schedule(request: XmlRequest, deferred: str, zone: str) -> XmlRequest:
    """The request with its notification URLs checked and its DeferredDeliveryTime (in
    ``zone``, hours) read; what is wrong with them is its error to answer."""
    try:
        for name, url in request.urls.items():
            _check_url(name, url)
        when = _deferred(deferred, zone)
    except _Invalid as exc:
        return replace(request, error=(exc.status, exc.detail))
    return replace(request, deferred=when)


def _supported(root: ET.Element) -> None:
    for node in root:
        tag = node.tag.lower()
        if tag not in _SUPPORTED:
            raise _Invalid(
                _UNSUPPORTED.get(tag, INVALID_MESSAGE),
                f"<{node.tag[:40]}> is not supported here",
            )


def _check_url(name: str, url: str) -> None:
    """The form of a notification URL, answered under its own element's code; whether
    its host may be called is the submit path's to say (see :func:`_status`)."""
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise _Invalid(_URLS[name][1], f"{name} must be an absolute http(s) URL")


def _deferred(value: str, zone: str) -> datetime | None:
    if not value:
        return None
    if zone and not _TIMEZONE.fullmatch(zone):
        raise _Invalid(INVALID_DEFERRED, "TimeZone is an offset in hours, e.g. +1")
    hours = int(zone) if zone else DEFAULT_OFFSET_HOURS
    if not _DEFERRED.fullmatch(value) or not -12 <= hours <= 14:
        raise _Invalid(INVALID_DEFERRED, "DeferredDeliveryTime is ddmmyyyyhhmmss")
    try:
        local = datetime.strptime(value, "%d%m%Y%H%M%S")
    except ValueError as exc:
        raise _Invalid(INVALID_DEFERRED, f"{value} is not a date and time") from exc
    return local.replace(tzinfo=timezone(timedelta(hours=hours))).astimezone(UTC)


def render_reply(status: tuple[int, str], detail: str = "", **extra: str) -> str:
    root = ET.Element("aspsms")
    ET.SubElement(root, "ErrorCode").text = str(status[0])
    description = status[1] if not detail or status == OK else f"{status[1]}: {detail}"
    ET.SubElement(root, "ErrorDescription").text = description
    for name, value in extra.items():
        ET.SubElement(root, name).text = value
    # ISO-8859-1, as ASPSMS answers; other characters become character references.
    raw: bytes = ET.tostring(root, encoding="ISO-8859-1", xml_declaration=True)
    return raw.decode("latin-1")


def _notify(urls: Mapping[str, str]) -> tuple[Notify, ...]:
    events: dict[str, list[str]] = {}
    for name, url in urls.items():
        events.setdefault(url, []).extend(_URLS[name][0])
    return tuple(Notify(url, tuple(dict.fromkeys(e))) for url, e in events.items())


def _status(exc: GatewayError, urls: Mapping[str, str]) -> tuple[int, str]:
    if isinstance(exc, InvalidRequest) and exc.message.startswith("url") and urls:
        # The submit path names the host it refused: the element of that URL answers.
        for name, url in urls.items():
            host = urlsplit(url).hostname
            if host and host in exc.message:
                return _URLS[name][1]
        return _URLS[next(iter(urls))][1]
    if isinstance(exc, PolicyDenied) and exc.reason == Reason.INVALID_SENDER:
        # The account's sender rules refused the Originator: said as the other
        # interfaces say it, in this protocol's words for a bad originator.
        return INVALID_ORIGINATOR
    return lookup(_CODES, exc, ACCESS_DENIED)


@dataclass(frozen=True, slots=True)
class Reply:
    """What a request comes to, whichever of ASPSMS's formats words it (XML or JSON)."""

    status: tuple[int, str]
    detail: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


def refusal(exc: GatewayError) -> Reply:
    """The reply to a request the gateway refused (credentials, rules...)."""
    return Reply(_status(exc, {}), exc.message)


async def execute(
    services: Services, req: XmlRequest, client_ip: str | None
) -> tuple[Reply, str | None]:
    """The reply, and the account it belongs to (None if the credentials were refused)."""
    try:
        account = await services.email_logins.by_user_key(
            req.user_key, req.password, client_ip=client_ip
        )
    except GatewayError as exc:
        return Reply(_status(exc, req.urls), exc.message), None
    return await _perform(services, req, account, client_ip), account.id


async def _perform(
    services: Services, req: XmlRequest, account: Account, client_ip: str | None
) -> Reply:
    try:
        if req.action.lower() == CREDITS.lower():
            summary = await services.accounts.summary(account)
            return Reply(OK, extra={"Credits": format_amount(summary.balance)})
        if req.action.lower() != SEND.lower():
            return Reply(INVALID_MESSAGE, f"the action {req.action[:40]!r} is not offered")
        if req.error is not None:
            return Reply(*req.error)
        if not req.recipients:
            return Reply(MISSING_RECIPIENT)
        if not req.text:
            return Reply(INVALID_MESSAGE, "MessageData is empty")
        refs = [ref for _, ref in req.recipients]
        # One request, one decision (services.submit): the account's rules, the batch
        # limit among them, count every recipient of the request; each message keeps its
        # own TransRefNumber, the reference the client looks it up by.
        await services.submit.submit(
            SubmitRequest(
                account=account,
                recipients=[number for number, _ in req.recipients],
                text=req.text,
                sender=sms_sender(account, req.originator, DEFAULT_ORIGINATOR),
                schedule_at=req.deferred,
                client_ref=refs[0] if len(set(refs)) == 1 else None,
                references=refs,
                interface=req.interface,
                client_ip=client_ip,
                notify=_notify(req.urls),
                encoding=req.encoding,
            )
        )
        return Reply(OK)
    except GatewayError as exc:
        return Reply(_status(exc, req.urls), exc.message)


async def answer(services: Services, body: str, reply_to: str, client_ip: str | None) -> str:
    """Carry out the request and queue its reply to ``reply_to`` (none if empty); the reply
    is committed to the mail queue before this returns. Returns the reply."""
    request = parse_request(body)
    outcome, account_id = await execute(services, request, client_ip)
    reply = render_reply(outcome.status, outcome.detail, **outcome.extra)
    if reply_to:
        await services.mail.queue(
            Email(
                sender=services.mail.from_address,
                to=(reply_to,),
                subject=REPLY_SUBJECT,
                text=reply,
                charset="iso-8859-1",
            ),
            account_id=account_id,
            source=SOURCE,
        )
    return reply
