"""Outbound email: what an interface asks to send, and the RFC 5322 message built from it.

Mail is built with the standard library's ``email`` package under the SMTP policy (CRLF
line ends, RFC 2047 encoded words for non-ASCII headers, base64 or quoted-printable bodies),
so the stored message is plain ASCII and any relay accepts it without SMTPUTF8.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, make_msgid
from typing import cast

from textgate.errors import InvalidRequest

__all__ = [
    "Attachment",
    "Email",
    "OutboundMail",
    "OutgoingMail",
    "build",
    "mail_address",
    "notification_email",
]

# Headers the builder writes itself; an interface's extra headers may not replace them
# (RFC 5322 section 3.6: each may appear at most once, and they define the message).
_RESERVED = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "sender",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
    }
)
# RFC 5322 section 2.2: a field name is printable US-ASCII except the colon.
_FIELD_NAME = re.compile(r"^[\x21-\x39\x3b-\x7e]{1,76}$")


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"
    content_id: str | None = None
    """Set for an image embedded in the HTML part (referenced as ``cid:<content_id>``)."""


@dataclass(frozen=True, slots=True)
class Email:
    """A message to send, as an interface describes it (addresses may carry display names)."""

    sender: str
    to: tuple[str, ...]
    subject: str
    text: str | None = None
    html: str | None = None
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: str | None = None
    charset: str = "utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """What the mail queue stores: the envelope and the finished message."""

    mail_from: str
    rcpt_to: tuple[str, ...]
    subject: str
    raw: str


@dataclass(frozen=True, slots=True)
class OutboundMail:
    """A queued mail as the API shows it (never its body)."""

    id: str
    account_id: str | None
    source: str
    to: tuple[str, ...]
    subject: str | None
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None


def mail_address(value: str, field: str = "address") -> Address:
    """One address (``a@b`` or ``Name <a@b>``), refused unless it is exactly one well-formed
    mailbox. CR and LF are refused outright: they would let a value start a new header."""
    if "\r" in value or "\n" in value:
        raise InvalidRequest(f"{field}: line breaks are not allowed")
    found = getaddresses([value])
    if len(found) != 1:
        raise InvalidRequest(f"{field}: exactly one address is expected")
    name, addr = found[0]
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or " " in addr:
        raise InvalidRequest(f"{field}: {value!r} is not an email address")
    try:
        return Address(display_name=name, addr_spec=addr)
    except (ValueError, IndexError) as exc:
        raise InvalidRequest(f"{field}: {value!r} is not an email address") from exc


def build(email: Email, *, now: datetime) -> OutgoingMail:
    """The finished message; raises InvalidRequest for anything that cannot be sent."""
    sender = mail_address(email.sender, "from")
    to = [mail_address(a, "to") for a in email.to]
    cc = [mail_address(a, "cc") for a in email.cc]
    bcc = [mail_address(a, "bcc") for a in email.bcc]
    if not to and not cc and not bcc:
        raise InvalidRequest("at least one recipient is required")
    if email.text is None and email.html is None:
        raise InvalidRequest("a text or an HTML body is required")
    if "\r" in email.subject or "\n" in email.subject:
        raise InvalidRequest("subject: line breaks are not allowed")
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    if to:
        msg["To"] = to
    if cc:
        msg["Cc"] = cc
    if email.reply_to:
        msg["Reply-To"] = mail_address(email.reply_to, "reply_to")
    msg["Subject"] = email.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=sender.domain or "localhost")
    for name, value in email.headers:
        if not _FIELD_NAME.match(name) or name.lower() in _RESERVED:
            raise InvalidRequest(f"header {name!r} cannot be set")
        if "\r" in value or "\n" in value:
            raise InvalidRequest(f"header {name}: line breaks are not allowed")
        msg[name] = value
    charset = _charset(email.charset)
    _set_body(msg, email, charset)
    # Bcc recipients are in the envelope only (RFC 5322 section 3.6.3).
    rcpt = tuple(dict.fromkeys(a.addr_spec for a in (*to, *cc, *bcc)))
    return OutgoingMail(sender.addr_spec, rcpt, email.subject, msg.as_string())


def _charset(name: str) -> str:
    """The charset to declare, by its IANA name (``latin-1`` and ``ISO8859-1`` become
    ``iso-8859-1``, ``cp1252`` becomes ``windows-1252``), once Python knows how to encode it."""
    try:
        canonical = codecs.lookup(name.strip()).name
    except LookupError as exc:
        raise InvalidRequest(f"charset: unknown {name!r}") from exc
    if canonical == "ascii":
        return "us-ascii"
    return _ISO.sub(r"iso-8859-\1", _WINDOWS.sub(r"windows-\1", canonical))


# Python's codec names -> the IANA names mail clients expect (RFC 2046 section 4.1.2).
_ISO = re.compile(r"^iso8859-(\d+)$")
_WINDOWS = re.compile(r"^cp(125\d)$")


def _set_body(msg: EmailMessage, email: Email, charset: str) -> None:
    inline = [a for a in email.attachments if a.content_id]
    files = [a for a in email.attachments if not a.content_id]
    try:
        if email.text is not None:
            msg.set_content(email.text, charset=charset)
        if email.html is not None:
            if email.text is None:
                msg.set_content(email.html, subtype="html", charset=charset)
                html_part = msg
            else:
                msg.add_alternative(email.html, subtype="html", charset=charset)
                parts = msg.get_payload()
                assert isinstance(parts, list)
                html_part = cast(EmailMessage, parts[-1])
            for image in inline:
                maintype, _, subtype = image.content_type.partition("/")
                html_part.add_related(
                    image.content,
                    maintype=maintype,
                    subtype=subtype or "octet-stream",
                    cid=f"<{image.content_id}>",
                    filename=image.filename,
                    disposition="inline",
                )
        for item in files:
            maintype, _, subtype = item.content_type.partition("/")
            msg.add_attachment(
                item.content,
                maintype=maintype or "application",
                subtype=subtype or "octet-stream",
                filename=item.filename,
            )
    except UnicodeEncodeError as exc:
        raise InvalidRequest(f"the body cannot be written in {charset}") from exc


_WORDS = {
    "message.delivered": "was delivered",
    "message.buffered": "is buffered by the operator (the handset is not reachable yet)",
    "message.sent": "was accepted by the operator",
    "message.undelivered": "could not be delivered",
    "message.failed": "failed",
    "message.expired": "expired before it could be delivered",
    "message.rejected": "was refused",
    "message.cancelled": "was cancelled",
}


def notification_email(
    sender: str, to: str, event_type: str, at: str, data: Mapping[str, object]
) -> Email:
    """The email that tells a person about one event (an email-interface ``Notify=`` or an
    account's mailto: subscription). Plain text, so any mail client shows it as meant."""
    if event_type == "inbound.received":
        subject = f"SMS from {data.get('from')} to {data.get('to')}"
        lines = [
            f"An SMS was received at {at}.",
            "",
            f"From: {data.get('from')}",
            f"To: {data.get('to')}",
            "",
            str(data.get("text") or ""),
        ]
    else:
        what = _WORDS.get(event_type, f"is now {event_type.removeprefix('message.')}")
        subject = f"SMS to {data.get('to')}: {event_type.removeprefix('message.')}"
        lines = [
            f"Your SMS to {data.get('to')} {what} ({at}).",
            "",
            f"Message id: {data.get('message_id')}",
        ]
        if data.get("reference"):
            lines.append(f"Your reference: {data.get('reference')}")
        if data.get("detail"):
            lines.append(f"Detail: {data.get('detail')}")
    return Email(sender=sender, to=(to,), subject=subject, text="\n".join(lines) + "\n")
