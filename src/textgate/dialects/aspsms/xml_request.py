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
      <Action>SendTextSMS</Action>
    </aspsms>

and the reply ``<aspsms><ErrorCode>1</ErrorCode><ErrorDescription>Ok</ErrorDescription>
</aspsms>`` (``<Credits>`` for ``ShowCredits``). Notification URLs become message-scoped
webhooks: textgate POSTs its signed JSON event to them (ASPSMS itself calls them with GET
and substitutes placeholders, which textgate does not).

The XML is parsed with defusedxml and any DTD refused, so entity expansion ("billion
laughs") and external entities cannot happen; size and recipient count are bounded.
"""

from __future__ import annotations

# The standard library builds the reply; requests are only ever parsed through defusedxml.
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]

from textgate.core.accounts import Account
from textgate.core.mail import Email
from textgate.core.policy import Reason
from textgate.core.pricing import format_amount
from textgate.dialects.aspsms.addresses import INTERFACE, NOTIFY_EVENTS
from textgate.dialects.base import lookup
from textgate.dialects.mail import Refused
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
from textgate.services.submit import Notify, SubmitRequest

__all__ = ["MAX_XML_CHARS", "XmlRequest", "answer", "parse_request", "render_reply"]

MAX_XML_CHARS = 256 * 1024
MAX_RECIPIENTS = 1000
MAX_REF = 100

# ASPSMS XML status codes (ErrorCode / ErrorDescription of the XML interface; the same
# numbers as its JSON API's StatusCode).
OK = (1, "Ok")
AUTH_FAILED = (3, "Authorization failed")
NO_CREDITS = (5, "Not enough credits")
INVALID_ORIGINATOR = (10, "Invalid originator")
INVALID_MESSAGE = (11, "Invalid message data")
INVALID_URL_BUFFERED = (17, "Invalid URL buffered message notification string")
INVALID_URL_DELIVERY = (18, "Invalid URL delivery notification string")
INVALID_URL_NON_DELIVERY = (19, "Invalid URL non delivery notification string")
MISSING_RECIPIENT = (20, "Missing a recipient")
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
_URLS: Mapping[str, tuple[tuple[str, ...], tuple[int, str]]] = {
    "URLDeliveryNotification": (("message.delivered",), INVALID_URL_DELIVERY),
    "URLNonDeliveryNotification": (
        tuple(e for e in NOTIFY_EVENTS["FAILED"]),
        INVALID_URL_NON_DELIVERY,
    ),
    "URLBufferedMessageNotification": (("message.buffered",), INVALID_URL_BUFFERED),
}
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
    return XmlRequest(
        action=_text(root, "Action") or SEND,
        user_key=_text(root, "Userkey"),
        password=_text(root, "Password"),
        originator=_text(root, "Originator") or None,
        text=_text(root, "MessageData"),
        recipients=tuple(recipients),
        urls={name: url for name in _URLS if (url := _text(root, name))},
    )


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
        return _URLS[next(iter(urls))][1]
    if isinstance(exc, PolicyDenied) and exc.reason == Reason.INVALID_SENDER:
        # The account's sender rules refused the Originator: said as the other
        # interfaces say it, in this protocol's words for a bad originator.
        return INVALID_ORIGINATOR
    return lookup(_CODES, exc, ACCESS_DENIED)


async def _execute(
    services: Services, req: XmlRequest, client_ip: str | None
) -> tuple[str, str | None]:
    """The reply, and the account it belongs to (None if the credentials were refused)."""
    try:
        account = await services.email_logins.by_user_key(
            req.user_key, req.password, client_ip=client_ip
        )
    except GatewayError as exc:
        return render_reply(_status(exc, req.urls), exc.message), None
    return await _perform(services, req, account, client_ip), account.id


async def _perform(
    services: Services, req: XmlRequest, account: Account, client_ip: str | None
) -> str:
    try:
        if req.action.lower() == CREDITS.lower():
            summary = await services.accounts.summary(account)
            return render_reply(OK, Credits=format_amount(summary.balance))
        if req.action.lower() != SEND.lower():
            return render_reply(INVALID_MESSAGE, f"the action {req.action[:40]!r} is not offered")
        if not req.recipients:
            return render_reply(MISSING_RECIPIENT)
        if not req.text:
            return render_reply(INVALID_MESSAGE, "MessageData is empty")
        refs = [ref for _, ref in req.recipients]
        # One request, one decision (services.submit): the account's rules, the batch
        # limit among them, count every recipient of the request; each message keeps its
        # own TransRefNumber, the reference the client looks it up by.
        await services.submit.submit(
            SubmitRequest(
                account=account,
                recipients=[number for number, _ in req.recipients],
                text=req.text,
                sender=req.originator,
                client_ref=refs[0] if len(set(refs)) == 1 else None,
                references=refs,
                interface=INTERFACE,
                client_ip=client_ip,
                notify=_notify(req.urls),
            )
        )
        return render_reply(OK)
    except GatewayError as exc:
        return render_reply(_status(exc, req.urls), exc.message)


async def answer(services: Services, body: str, reply_to: str, client_ip: str | None) -> str:
    """Carry out the request and queue its reply to ``reply_to`` (none if empty); the reply
    is committed to the mail queue before this returns. Returns the reply."""
    request = parse_request(body)
    reply, account_id = await _execute(services, request, client_ip)
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
