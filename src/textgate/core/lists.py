"""Mailing lists and what hangs off them: templates, campaigns, SMTP+ users.

These are the objects of seed 002 (MailUp): an account (a "console" with a number) owns
numbered lists; a list has a GUID, an optional ListSecret that enables transactional SMS, a
default international prefix and an SMS sender name; SMTP+ users send transactional email
on behalf of a list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = [
    "CampaignStats",
    "Console",
    "ConsoleStatus",
    "Delivery",
    "MailingList",
    "SmtpUser",
    "Template",
    "TemplateKind",
]


class ConsoleStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Console:
    account_id: str
    console_id: int
    status: ConsoleStatus


@dataclass(frozen=True, slots=True)
class MailingList:
    account_id: str
    list_id: int
    guid: str
    name: str
    secret: str | None
    default_prefix: str | None
    """Country calling code (digits, no '+') for numbers given without one."""
    sms_sender: str | None
    created_at: datetime


class TemplateKind(StrEnum):
    SMS = "sms"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class Template:
    account_id: str
    template_id: int
    kind: TemplateKind
    name: str
    subject: str | None
    text: str | None
    html: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """A transactional SMS by its numeric id."""

    id: int
    account_id: str
    list_id: int
    message_id: str
    campaign: str | None


@dataclass(frozen=True, slots=True)
class CampaignStats:
    code: str
    name: str | None
    messages: int
    """SMS sent under the code (refused ones included)."""
    cost: int
    """Micro-credits charged for them."""
    delivered: int
    failed: int
    """Undelivered, failed, expired or refused."""
    pending: int
    emails: int


@dataclass(frozen=True, slots=True)
class SmtpUser:
    username: str
    account_id: str
    list_id: int
    enabled: bool
    admin_block: bool
    block_until: datetime | None
    deleted_at: datetime | None
    priority: int
    note: str
    domain_list: str
    sender_list: str
    campaign: str | None
    """Campaign code of mail that names none."""
    created_at: datetime
    updated_at: datetime
