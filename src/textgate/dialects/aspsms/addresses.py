"""ASPSMS SMTP interface (seed 004; shared/specs/dialects.md, section "ASPSMS").

- ``textsms@<domain>``: the subject carries ``UserKey=...,Password=...,Recipient=...`` and
  optionally ``Originator=...`` and ``Notify=...`` (keys case-insensitive, short forms U,
  P, R, O; several recipients separated by ``;``); the body is the text.
- ``<Recipient>@<domain>``: the number starts with ``00`` ("The plus character is not
  accepted"); the envelope sender must be an authorised SMTP originator of an account, whose
  default originator applies unless the subject says ``Originator=...``.
- ``xml@<domain>``: see :mod:`textgate.dialects.aspsms.xml_request`.

``Notify`` (seed 004) decides which status changes are emailed to the sender.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from textgate.core.numbers import normalize_number
from textgate.dialects.mail import Delivery, Refused, Reply
from textgate.errors import InvalidNumber, InvalidRequest
from textgate.services.registry import Services
from textgate.services.submit import Notify, SubmitRequest, SubmitResult

__all__ = [
    "INTERFACE",
    "NOTIFY_EVENTS",
    "UNAUTHORISED_ORIGINATOR",
    "Form",
    "Subject",
    "address_form",
    "parse_subject",
    "send_textsms",
    "send_to_numbers",
]

INTERFACE = "aspsms-smtp"


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
# Seed 004: "the used e-mail sender address must be authorized" for <Recipient>@.
UNAUTHORISED_ORIGINATOR = Reply(
    550, "5.7.1", "the sender address is not an authorised SMTP originator for <number>@ addresses"
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
            sender=subject.originator,
            interface=INTERFACE,
            client_ip=delivery.client_ip,
            notify=_notify(delivery.sender, subject.notify),
        )
    )


async def send_to_numbers(services: Services, delivery: Delivery) -> SubmitResult:
    """``<Recipient>@``: the envelope sender names the account."""
    mail = delivery.mail
    account, default_originator = await services.originators.resolve(delivery.sender)
    subject = parse_subject(mail.subject, strict=False)
    return await services.submit.submit(
        SubmitRequest(
            account=account,
            recipients=delivery.numbers,
            text=mail.text,
            sender=subject.originator or default_originator,
            interface=INTERFACE,
            client_ip=delivery.client_ip,
            # Only on request: this form is used by appliances sending one-time codes.
            notify=_notify(delivery.sender, subject.notify) if subject.notify else (),
        )
    )
