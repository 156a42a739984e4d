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

from textgate.services.registry import Services

__all__ = [
    "PLAIN_TEXT",
    "AddressHandler",
    "Delivery",
    "ParsedMail",
    "Recipient",
    "Refused",
    "Reply",
]

PLAIN_TEXT = frozenset({"text/plain"})


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply (RFC 5321 section 4.2)."""

    code: int
    status: str
    """RFC 3463 enhanced status code."""
    text: str

    def __str__(self) -> str:
        # One line: a CR or LF in the text would end the reply early (RFC 5321 4.2).
        text = " ".join(self.text.split())
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
