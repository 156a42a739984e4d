"""An incoming email as the email dialects read it: sender, subject and one text body.

Email becomes SMS text. The text is the plain part; text and HTML alternatives (what mail
programs send by default) give the plain one, an HTML-only email its HTML converted to
text, and ``ParsedMail.html`` tells the dialect an HTML part was there (a provider that takes
plain text only refuses it: that rule is the dialect's). ``format=flowed`` text is unwrapped
(RFC 3676). Attachments and unknown transfer encodings are refused with a reason; declared
charsets are honoured and quoted-printable and base64 bodies decoded. A
``multipart/mixed`` with one text part (what some providers' own examples send) is
accepted. Which text types the one part may have, and how long the subject may be, is the
recipient address's to say (``dialects.mail.Recipient``).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Collection
from email import errors, policy
from email.errors import MessageDefect
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses

from textgate.dialects.mail import MAX_SUBJECT, PLAIN_TEXT, ParsedMail, Refused
from textgate.smtp.text import html_to_text, unflow

__all__ = ["MAX_SUBJECT", "parse_mail"]

_ENCODINGS = frozenset({"", "7bit", "8bit", "binary", "quoted-printable", "base64"})
_CONTAINERS = frozenset({"multipart/mixed", "multipart/alternative", "multipart/related"})
_MAX_PARTS = 20
# Codec names (codecs.lookup) read as windows-1252: see _latin1.
_LATIN1 = frozenset({"latin-1", "iso8859-1", "ascii"})
_BAD_BASE64 = (
    errors.InvalidBase64CharactersDefect,
    errors.InvalidBase64LengthDefect,
    errors.InvalidBase64PaddingDefect,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _refuse(text: str, status: str = "5.6.0") -> Refused:
    return Refused(554, status, text)


def _header(msg: Message, name: str) -> str:
    values = msg.get_all(name) or []
    if len(values) > 1:
        raise _refuse(f"the {name} header appears more than once")
    return str(values[0]) if values else ""


def _from(msg: Message) -> tuple[str, str]:
    raw = _header(msg, "From")
    if not raw:
        return "", ""
    found = getaddresses([raw])
    if len(found) != 1:
        raise _refuse("the From header must name exactly one sender")
    name, addr = found[0]
    return name.strip(), addr.strip()


def _decode(part: Message) -> str:
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte not in _ENCODINGS:
        raise _refuse(f"the transfer encoding {cte!r} is not accepted", "5.6.1")
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raise _refuse("the text part has no content", "5.6.1")
    if any(isinstance(d, _BAD_BASE64) for d in part.defects):
        raise _refuse("the base64 body is broken", "5.6.1")
    declared = part.get_content_charset()
    if declared is None:
        # Undeclared: UTF-8 (ASCII included), else ISO-8859-1 (what email-to-SMS providers
        # tell their senders to use).
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            return _latin1(payload)
    try:
        codec = codecs.lookup(str(declared))
    except LookupError as exc:
        raise _refuse(f"the charset {declared!r} is unknown", "5.6.3") from exc
    if codec.name in _LATIN1:
        return _latin1(payload)
    try:
        return payload.decode(codec.name)
    except UnicodeDecodeError as exc:
        raise _refuse(f"the text is not valid {declared}", "5.6.3") from exc


def _latin1(payload: bytes) -> str:
    """ISO-8859-1 as mail clients write it: Windows programs label windows-1252 text (euro
    sign at 0x80, curly quotes, dashes) ISO-8859-1 or even ASCII, so those labels are read
    as windows-1252 (the WHATWG Encoding Standard does the same), and the five bytes it
    leaves undefined as ISO-8859-1."""
    try:
        return payload.decode("cp1252")
    except UnicodeDecodeError:
        return "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in payload)


def _text_part(msg: Message, accepted: Collection[str]) -> tuple[Message, bool]:
    """The part the SMS text comes from, and whether the email has an HTML part: the plain
    alternative when there is one (text and HTML, as mail programs send by default), else
    the one HTML part (converted to text by the caller)."""
    parts = list(msg.walk())
    if len(parts) > _MAX_PARTS:
        raise _refuse("too many MIME parts; send one plain-text part", "5.6.1")
    texts: list[Message] = []
    htmls: list[Message] = []
    for part in parts:
        ctype = part.get_content_type()
        if part.is_multipart():
            if ctype not in _CONTAINERS:
                raise _refuse(f"{ctype} is not accepted; send plain text", "5.6.1")
            continue
        disposition = part.get_content_disposition()
        if ctype == "text/html" and disposition != "attachment":
            htmls.append(part)
            continue
        if ctype not in accepted or disposition == "attachment":
            raise _refuse(f"attachments ({ctype}) are not accepted; send plain text", "5.6.1")
        texts.append(part)
    if len(texts) > 1 or (not texts and len(htmls) > 1):
        raise _refuse("the email has several text parts; send one", "5.6.1")
    if texts:
        return texts[0], bool(htmls)
    if htmls:
        return htmls[0], True
    raise _refuse("the email has no plain-text part", "5.6.1")


def _body(part: Message) -> str:
    """The part's text: HTML converted, ``format=flowed`` unwrapped (RFC 3676)."""
    text = _decode(part).replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_type() == "text/html":
        return html_to_text(text)
    if str(part.get_param("format", "")).lower() == "flowed":
        return unflow(text, delsp=str(part.get_param("delsp", "")).lower() == "yes")
    return text


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip("\n")


def parse_mail(
    data: bytes, *, accepted: Collection[str] = PLAIN_TEXT, max_subject: int = MAX_SUBJECT
) -> ParsedMail:
    """Parse one email; raises :class:`Refused` with the reason it cannot be taken.

    ``accepted``: the MIME types the text part may have; ``max_subject``: the longest
    subject taken (after unfolding, RFC 5322 section 2.2.3)."""
    try:
        msg = BytesParser(policy=policy.default).parsebytes(data)
        defects: list[MessageDefect] = list(msg.defects)
        if any(isinstance(d, errors.MissingHeaderBodySeparatorDefect) for d in defects):
            raise _refuse("the message headers are malformed")
        subject = " ".join(_header(msg, "Subject").split())
        if len(subject) > max_subject:
            raise _refuse(f"the subject is longer than {max_subject} characters")
        name, address = _from(msg)
        part, html = _text_part(msg, accepted)
        text = _clean(_body(part))
    except Refused:
        raise
    except RecursionError as exc:
        # The email package parses and walks nested parts recursively: parts nested past
        # the interpreter's limit are no email to take, now or later.
        raise _refuse("the MIME parts nest too deep; send one plain-text part", "5.6.1") from exc
    except (
        ValueError,
        TypeError,
        LookupError,
        IndexError,
        AttributeError,
        errors.MessageError,
    ) as exc:
        # The email package raises these (HeaderParseError is a MessageError) on input it
        # cannot make sense of.
        raise _refuse("the message is not a well-formed email") from exc
    if _CONTROL.search(text) or _CONTROL.search(subject):
        raise _refuse("the message contains control characters")
    return ParsedMail(subject=subject, from_name=name, from_address=address, text=text, html=html)
