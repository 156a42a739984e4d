"""What the SMTP server and the email dialects share: the mail as the dialects read it, the
refusal they answer with, and the address handler each email dialect declares.

The server (``textgate.smtp``) owns the protocol: connections, AUTH, size limits, MIME.
For every recipient it asks the handler whose domains include the address's domain what
the address means (a :class:`Recipient`), and at DATA hands it the parsed mail. A handler
names its provider's addresses and rules; the server names no provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from textgate.core.accounts import Account
from textgate.core.numbers import validate_sender
from textgate.errors import InvalidSender
from textgate.services.registry import Services

__all__ = [
    "MAX_SUBJECT",
    "PLAIN_TEXT",
    "AddressHandler",
    "Delivery",
    "ParsedMail",
    "Recipient",
    "Refused",
    "Reply",
    "display_sender",
    "sms_sender",
]

PLAIN_TEXT = frozenset({"text/plain"})
MAX_SUBJECT = 1000
"""The longest subject an address takes unless it says otherwise (``Recipient``)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply (RFC 5321 section 4.2)."""

    code: int
    status: str
    """RFC 3463 enhanced status code."""
    text: str

    def __str__(self) -> str:
        # One line: a CR or LF in the text would end the reply early (RFC 5321 4.2); and
        # ASCII, as SMTP replies are (RFC 5321 section 2.4): a sender name like "Zürich"
        # quoted in a refusal is escaped, never a reason the reply cannot be written.
        text = " ".join(self.text.split()).encode("ascii", "backslashreplace").decode("ascii")
        return f"{self.code} {self.status} {text}"


class Refused(Exception):
    """A mail (or one recipient) is refused with this reply."""

    def __init__(self, code: int, status: str, text: str) -> None:
        super().__init__(text)
        self.reply = Reply(code, status, text)

    @classmethod
    def with_reply(cls, reply: Reply) -> Refused:
        return cls(reply.code, reply.status, reply.text)


@dataclass(frozen=True, slots=True)
class ParsedMail:
    subject: str
    from_name: str
    """The display name of the From header ("" if none)."""
    from_address: str
    """The address of the From header as written (may be a bare username)."""
    text: str
    html: bool = False
    """The email has an HTML part (``text`` is then its plain alternative, or the HTML
    converted to text when there is none)."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """What one recipient address means to the handler that claims it."""

    kind: str
    """One email goes to one kind of address of one handler: a recipient of another kind
    is deferred to an email of its own."""
    number: str | None = None
    """The phone number the address names, if it names one."""
    content_types: frozenset[str] = PLAIN_TEXT
    """The MIME types the email's one text part may have."""
    max_subject: int = MAX_SUBJECT
    """The longest subject taken (an address whose subject carries recipients needs more)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """An email the server took, for the handler of its recipients."""

    mail: ParsedMail
    recipients: tuple[Recipient, ...]
    """In envelope order; all of one kind."""
    sender: str
    """The envelope sender (MAIL FROM); "" for the null sender ``<>``."""
    client_ip: str | None

    @property
    def numbers(self) -> list[str]:
        """The recipients' phone numbers in envelope order (a number given twice is one
        recipient: services.submit decides that, as for every interface)."""
        return [r.number for r in self.recipients if r.number is not None]


class AddressHandler(Protocol):
    """The email addresses one dialect serves. Raising :class:`Refused` gives that reply;
    a ``GatewayError`` gets the server's reply for it."""

    @property
    def domains(self) -> Sequence[str]:
        """The mail domains whose addresses this handler takes (any case)."""
        ...

    def recipient(self, local: str) -> Recipient:
        """What ``local@<one of the domains>`` means; refuses addresses that mean nothing."""
        ...

    async def admit(
        self, services: Services, recipient: Recipient, sender: str, client_ip: str | None
    ) -> None:
        """Checks at RCPT, before any content is sent (``sender``: the envelope sender;
        ``client_ip``: the SMTP client's address)."""
        ...

    async def deliver(self, services: Services, delivery: Delivery) -> None:
        """Carry the email out; returns once its messages are committed."""
        ...


def display_sender(name: str) -> str | None:
    """A From display name as the SMS sender, if it is one (up to 16 digits or 11 letters,
    digits and spaces); a person's or shop's name that is not ("Jonathan Smith",
    "ACME-Shop", "José García") is None, so the default sender applies."""
    try:
        return validate_sender(name) if name.strip() else None
    except InvalidSender:
        return None


def sms_sender(account: Account, chosen: str | None, provider_default: str) -> str | None:
    """The sender of an email's SMS: the one the email chose, else the account's default
    sender rule (applied by the submit path), else the provider document's default, unless
    the account's allowed senders leave it out."""
    rules = account.rules
    if chosen or rules.default_sender:
        return chosen or None
    if rules.allowed_senders and provider_default not in rules.allowed_senders:
        return None
    return provider_default
