"""Transactional email of SMTP+ users (seed 002, MailUp "SendMessage" and "SendTemplate"):
the message is built with the standard library's email package (core.mail) and queued on
the outbound mail queue, which delivers it (now, or at the XSmtpAPI Schedule time).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from textgate.core.clock import Clock, system_clock, to_ms
from textgate.core.lists import SmtpUser, TemplateKind
from textgate.core.mail import Attachment, Email
from textgate.core.templates import render
from textgate.errors import AuthenticationFailed, InvalidRequest
from textgate.services.list_sms import ListSmsService
from textgate.services.lists import ListService
from textgate.services.mail import MailService

__all__ = ["NO_RECIPIENT", "NO_SENDER", "MailPart", "Mailbox", "TransactionalMail", "TxMail"]

NO_RECIPIENT = "mail_no_recipient"
NO_SENDER = "mail_no_sender"
SOURCE = "mailup"
# Seed 002, XSmtpAPI "Priority": 1 high to 5 low; written as the X-Priority header clients
# and relays read.
PRIORITY_HEADER = "X-Priority"
# Seed 002, ExtendedHeaders: "only SMTP headers that are approved ... will be added".
# Approved here: private X- headers, and List-Unsubscribe for one-click unsubscription.
_APPROVED = ("x-", "list-unsubscribe")


@dataclass(frozen=True, slots=True)
class Mailbox:
    email: str
    name: str = ""

    def header(self) -> str:
        return f'"{self.name}" <{self.email}>' if self.name else self.email


@dataclass(frozen=True, slots=True)
class MailPart:
    filename: str
    body: bytes
    content_id: str | None = None


@dataclass(frozen=True, slots=True)
class TxMail:
    subject: str
    sender: Mailbox | None
    to: Sequence[Mailbox] = ()
    cc: Sequence[Mailbox] = ()
    bcc: Sequence[Mailbox] = ()
    text: str | None = None
    html: str | None = None
    template_id: int | None = None
    reply_to: str | None = None
    charset: str | None = None
    headers: Sequence[tuple[str, str]] = ()
    attachments: Sequence[MailPart] = ()
    images: Sequence[MailPart] = ()
    campaign_code: str | None = None
    campaign_name: str | None = None
    fields: Mapping[str, str] | None = None
    """Merge-tag values by lower-cased name."""
    schedule: datetime | None = None
    priority: int | None = None


class TransactionalMail:
    def __init__(
        self,
        mail: MailService,
        lists: ListService,
        sms: ListSmsService,
        clock: Clock = system_clock,
    ) -> None:
        self._mail = mail
        self._lists = lists
        self._sms = sms
        self._clock = clock

    async def send(self, user: SmtpUser, req: TxMail) -> str:
        """Queue the mail for ``user``; its queue id."""
        if req.sender is None or not req.sender.email.strip():
            raise InvalidRequest("the sender is required", code=NO_SENDER)
        if not any(m.email.strip() for m in (*req.to, *req.cc, *req.bcc)):
            raise InvalidRequest("at least one recipient is required", code=NO_RECIPIENT)
        _check_sender(user, req.sender.email)
        text, html, subject = req.text, req.html, req.subject
        if req.template_id is not None:
            template = await self._lists.template(
                user.account_id, req.template_id, TemplateKind.EMAIL
            )
            text, html = template.text, template.html
            subject = subject or template.subject or ""
        fields = req.fields or {}
        text = None if text is None else render(text, fields)
        html = None if html is None else render(html, fields)
        subject = render(subject, fields)
        headers = [(n, v) for n, v in req.headers if n.lower().startswith(_APPROVED)]
        priority = req.priority if req.priority is not None else user.priority
        if not 1 <= priority <= 5:
            raise InvalidRequest("Priority: 1 (high) to 5 (low)")
        headers = [(n, v) for n, v in headers if n.lower() != PRIORITY_HEADER.lower()]
        headers.append((PRIORITY_HEADER, str(priority)))
        email = Email(
            sender=req.sender.header(),
            to=tuple(m.header() for m in req.to if m.email.strip()),
            cc=tuple(m.header() for m in req.cc if m.email.strip()),
            bcc=tuple(m.header() for m in req.bcc if m.email.strip()),
            subject=subject,
            text=text,
            html=html,
            reply_to=req.reply_to or None,
            charset=req.charset or "utf-8",
            headers=tuple(headers),
            attachments=(
                *(_attachment(p, inline=True) for p in req.images),
                *(_attachment(p, inline=False) for p in req.attachments),
            ),
        )
        due = None if req.schedule is None else max(to_ms(req.schedule), self._clock())
        mail_id = await self._mail.queue(
            email, account_id=user.account_id, source=SOURCE, due_at=due
        )
        code = req.campaign_code or user.campaign
        if code:
            await self._sms.count_emails(user.account_id, code, req.campaign_name, 1)
        return mail_id


def _check_sender(user: SmtpUser, address: str) -> None:
    """The user's SenderList and DomainList (comma- or semicolon-separated; empty: any)."""
    address = address.strip().lower()
    senders = _items(user.sender_list)
    domains = _items(user.domain_list)
    if senders and address not in senders:
        raise AuthenticationFailed(f"the sender {address} is not allowed for this user")
    if domains and address.rpartition("@")[2] not in domains:
        raise AuthenticationFailed("the sender's domain is not allowed for this user")


def _items(value: str) -> set[str]:
    return {v.strip().lower() for v in value.replace(";", ",").split(",") if v.strip()}


def _attachment(part: MailPart, *, inline: bool) -> Attachment:
    guessed, _ = mimetypes.guess_type(part.filename)
    return Attachment(
        filename=part.filename or ("image" if inline else "attachment"),
        content=part.body,
        content_type=guessed or "application/octet-stream",
        content_id=(part.content_id or part.filename) if inline else None,
    )
