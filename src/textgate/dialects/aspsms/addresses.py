"""ASPSMS SMTP interface (seed 004; shared/specs/dialects.md, section "ASPSMS").

- ``textsms@<domain>``: the subject carries ``UserKey=...,Password=...,Recipient=...`` and
  optionally ``Originator=...`` and ``Notify=...`` (keys case-insensitive, short forms U,
  P, R, O; several recipients separated by ``;``); the body is the text.
- ``<Recipient>@<domain>``: the number starts with ``00`` ("The plus character is not
  accepted"); the sender must be an authorised SMTP originator of an account (see
  :func:`originator_account`), whose default originator applies unless the subject says
  ``Originator=...``.
- ``xml@<domain>``: see :mod:`textgate.dialects.aspsms.xml_request`.

``Notify`` (seed 004) decides which status changes are emailed to the sender.

No originator given: the authorised originator's default (``<Recipient>@``), else the
account's default sender, else "SMS" (seed 004: "If no originator is defined, the ASPSMS
system sets the Originator 'SMS' or uses a predefined default Originator").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from textgate.core.accounts import Account
from textgate.core.numbers import normalize_number
from textgate.dialects.mail import MAX_SUBJECT, Delivery, Refused, Reply, sms_sender
from textgate.errors import AuthenticationFailed, InvalidNumber, InvalidRequest
from textgate.services.registry import Services
from textgate.services.submit_request import Notify, SubmitRequest, SubmitResult

__all__ = [
    "DEFAULT_ORIGINATOR",
    "INTERFACE",
    "MAX_TEXTSMS_SUBJECT",
    "NOTIFY_EVENTS",
    "UNAUTHORISED_ORIGINATOR",
    "Form",
    "Subject",
    "address_form",
    "originator_account",
    "parse_subject",
    "send_textsms",
    "send_to_numbers",
]

INTERFACE = "aspsms-smtp"
# Seed 004, <Recipient>@: "the ASPSMS system sets the Originator 'SMS'".
DEFAULT_ORIGINATOR = "SMS"


class Form(StrEnum):
    TEXTSMS = "textsms"
    NUMBER = "number"
    XML = "xml"


# ASPSMS's statuses "Delivered", "Buffered" and "Failed" as textgate events: every final
# state short of delivery counts as failed.
_DELIVERED = ("message.delivered",)
_BUFFERED = ("message.buffered",)
_FAILED = ("message.failed", "message.undelivered", "message.expired", "message.rejected")
NOTIFY_EVENTS: Mapping[str, tuple[str, ...]] = {
    # Seed 004, "Delivery status notifications for SMS".
    "ALWAYS": (*_DELIVERED, *_BUFFERED, *_FAILED),
    "NONE": (),
    "FAILED": _FAILED,
    "": (*_DELIVERED, *_FAILED),
}
# Subject keys (seed 004: "you can just use the first letter").
_KEYS = {
    "userkey": "userkey",
    "u": "userkey",
    "password": "password",
    "p": "password",
    "recipient": "recipient",
    "r": "recipient",
    "originator": "originator",
    "o": "originator",
    "notify": "notify",
}
_NUMBER = re.compile(r"00[0-9]{4,17}")
MAX_SUBJECT_RECIPIENTS = 1000
# textsms@ carries its recipients in the subject: long enough for all of them ("00" and up
# to 17 digits, ";" and the space a client may fold the header at, RFC 5322 section
# 2.2.3), besides the other keys.
MAX_TEXTSMS_SUBJECT = MAX_SUBJECT_RECIPIENTS * 21 + MAX_SUBJECT
# Seed 004: "the used e-mail sender address must be authorized" for <Recipient>@.
UNAUTHORISED_ORIGINATOR = Reply(
    554, "5.7.1", "the sender address is not an authorised SMTP originator for <number>@ addresses"
)


@dataclass(frozen=True, slots=True)
class Subject:
    user_key: str = ""
    password: str = ""
    recipients: tuple[str, ...] = ()
    originator: str | None = None
    notify: str | None = None


def address_form(local: str) -> tuple[Form, str | None]:
    """The kind of an address's local part, and its number for ``<Recipient>@``."""
    lowered = local.lower()
    if lowered == "textsms":
        return Form.TEXTSMS, None
    if lowered == "xml":
        return Form.XML, None
    if local.startswith("+"):
        raise Refused(
            550,
            "5.1.3",
            f"{local}: the + sign is not accepted; write the number with 00, e.g. 00{local[1:]}@",
        )
    if not _NUMBER.fullmatch(local):
        raise Refused(
            550,
            "5.1.1",
            f"{local!r} is not a recipient here: use textsms@, xml@ or a number starting "
            "with 00 (0041790000000@)",
        )
    return Form.NUMBER, number(local)


def number(raw: str) -> str:
    try:
        return normalize_number(raw.strip())
    except InvalidNumber as exc:
        raise Refused(550, "5.1.3", f"{raw}: {exc.message}") from exc


def parse_subject(text: str, *, strict: bool = True) -> Subject:
    """``Key=value`` pairs separated by commas. ``strict`` (textsms@): every key must be
    known; otherwise (``<Recipient>@``, whose subject is optional and may be any text) a
    subject that is not such a list is ignored."""
    fields: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip() and not strict:
            continue
        key, eq, value = item.partition("=")
        name = _KEYS.get(key.strip().lower())
        if not eq or name is None:
            if not strict:
                return Subject()
            raise InvalidRequest(
                f"subject: {key.strip()[:40]!r} is not one of UserKey, Password, Recipient, "
                "Originator, Notify (written Key=value, separated by commas)"
            )
        if name in fields:
            raise InvalidRequest(f"subject: {name} is given twice")
        fields[name] = value.strip()
    notify = fields.get("notify")
    if notify is not None and notify.upper() not in NOTIFY_EVENTS:
        raise InvalidRequest("subject: Notify is ALWAYS, NONE, FAILED or empty")
    recipients = tuple(r.strip() for r in fields.get("recipient", "").split(";") if r.strip())
    if len(recipients) > MAX_SUBJECT_RECIPIENTS:
        raise InvalidRequest(f"subject: at most {MAX_SUBJECT_RECIPIENTS} recipients")
    return Subject(
        user_key=fields.get("userkey", ""),
        password=fields.get("password", ""),
        recipients=recipients,
        originator=fields.get("originator") or None,
        notify=None if notify is None else notify.upper(),
    )


def _notify(reply_to: str, mode: str | None) -> tuple[Notify, ...]:
    events = NOTIFY_EVENTS[mode or ""]
    if not reply_to or not events:
        return ()
    return (Notify(f"mailto:{reply_to}", events),)


async def send_textsms(services: Services, delivery: Delivery) -> SubmitResult:
    """``textsms@``: replies go to the envelope sender."""
    mail = delivery.mail
    subject = parse_subject(mail.subject)
    if not subject.user_key or not subject.password:
        raise InvalidRequest("subject: UserKey and Password are required")
    if not subject.recipients:
        raise InvalidRequest("subject: Recipient is required")
    account = await services.email_logins.by_user_key(
        subject.user_key, subject.password, client_ip=delivery.client_ip
    )
    return await services.submit.submit(
        SubmitRequest(
            account=account,
            recipients=subject.recipients,
            text=mail.text,
            sender=sms_sender(account, subject.originator, DEFAULT_ORIGINATOR),
            interface=INTERFACE,
            client_ip=delivery.client_ip,
            notify=_notify(delivery.sender, subject.notify),
        )
    )


async def originator_account(services: Services, delivery: Delivery) -> tuple[Account, str | None]:
    """The account that authorised the sender of a ``<Recipient>@`` email, and the default
    originator it set for it.

    Seed 004 authenticates by "the sender's e-mail address (SMTP Originator)" and names
    the ``From:`` header in its usage ("From: <SMTP Originator Client>"), while "the used
    e-mail sender address must be authorized" fits the envelope sender as well. Both are
    taken: an appliance sending itself has the two equal, and an application sending
    through a relay (SES, SendGrid, a forwarder) keeps its From address while the relay
    writes its own envelope sender. The From address is tried first, so such a relay's
    envelope sender is never counted as a refused guess against its network; each email
    counts at most one refusal per address tried.
    """
    tried: list[str] = []
    for address in (delivery.mail.from_address, delivery.sender):
        if not address or address.lower() in tried:
            continue
        tried.append(address.lower())
        try:
            return await services.originators.admit(address, delivery.client_ip)
        except AuthenticationFailed:
            continue
    raise Refused.with_reply(UNAUTHORISED_ORIGINATOR)


async def send_to_numbers(services: Services, delivery: Delivery) -> SubmitResult:
    """``<Recipient>@``: the sender address names the account."""
    mail = delivery.mail
    account, default_originator = await originator_account(services, delivery)
    subject = parse_subject(mail.subject, strict=False)
    return await services.submit.submit(
        SubmitRequest(
            account=account,
            recipients=delivery.numbers,
            text=mail.text,
            sender=sms_sender(
                account, subject.originator or default_originator, DEFAULT_ORIGINATOR
            ),
            interface=INTERFACE,
            client_ip=delivery.client_ip,
            # Only on request (Notify= given, empty included: seed 004 "<Empty>" mails on
            # delivered and failed): this form is used by appliances sending one-time codes.
            notify=_notify(delivery.sender, subject.notify) if subject.notify is not None else (),
        )
    )
