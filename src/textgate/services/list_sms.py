"""Transactional SMS through a list (seed 002, MailUp "Sending a transactional SMS"): the
ListGuid and ListSecret are the credentials, merge tags are filled from DynamicFields,
the text may come from a stored template, and each SMS gets a numeric DeliveryId and
counts toward its CampaignCode's statistics.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from textgate.core.encoding import Encoding
from textgate.core.lists import CampaignStats, TemplateKind
from textgate.core.message import Message
from textgate.core.numbers import normalize_number
from textgate.core.templates import render
from textgate.errors import (
    GatewayError,
    InvalidNumber,
    InvalidRequest,
    InvalidSender,
    NotFound,
)
from textgate.services.accounts import AccountService
from textgate.services.lists import LIST_NOT_FOUND, ListService, list_number
from textgate.services.query import MessageService
from textgate.services.submit import SENDER_MISSING, SubmitRequest, SubmitService
from textgate.storage.campaigns import CampaignRepo

__all__ = [
    "CONTENT_TOO_LONG",
    "DELIVERY_NOT_FOUND",
    "MAX_CONTENT",
    "SENDER_MISSING",
    "ListSms",
    "ListSmsService",
    "SmsSent",
]

log = logging.getLogger(__name__)

INTERFACE = "mailup"
# Seed 002, "Content": "messages longer than 670 characters are truncated by the sending
# engine". Far longer requests are refused instead (CONTENT_TOO_LONG): a body that size is a
# client bug, not a message.
MAX_CONTENT = 670
MAX_REQUEST_CONTENT = 10_000
# Seed 002, "Sender": "max 11 chars, only letters and numbers (a-zA-Z0-9)".
_SENDER = re.compile(r"^[A-Za-z0-9]{1,11}$")

CONTENT_TOO_LONG = "content_too_long"
DELIVERY_NOT_FOUND = "delivery_not_found"


@dataclass(frozen=True, slots=True)
class ListSms:
    console_id: int
    list_id: int
    guid: str
    secret: str
    recipient: str
    content: str | None = None
    template_id: int | None = None
    fields: Mapping[str, str] | None = None
    """Merge-tag values by lower-cased name (core.templates.fields_of)."""
    campaign: str | None = None
    unicode: bool | None = None
    sender: str | None = None
    client_ip: str | None = None


@dataclass(frozen=True, slots=True)
class SmsSent:
    delivery_id: int
    """0 when the SMS was sent but its delivery could not be recorded (``recorded`` False)."""
    cost: int
    message: Message
    recorded: bool = True


class ListSmsService:
    def __init__(
        self,
        lists: ListService,
        accounts: AccountService,
        submit: SubmitService,
        messages: MessageService,
        campaigns: CampaignRepo,
    ) -> None:
        self._lists = lists
        self._accounts = accounts
        self._submit = submit
        self._messages = messages
        self._campaigns = campaigns

    async def _account_id(self, console_id: int) -> str:
        console = await self._lists.find_console(console_id)
        if console is None:
            raise NotFound(f"no account {console_id}", code=LIST_NOT_FOUND)
        return console.account_id

    async def send(self, sms: ListSms) -> SmsSent:
        account_id = await self._account_id(sms.console_id)
        found = await self._lists.checked(account_id, sms.list_id, sms.guid, sms.secret)
        account = await self._accounts.get(account_id)
        if sms.template_id is not None:
            template = await self._lists.template(account_id, sms.template_id, TemplateKind.SMS)
            content = template.text or ""
        else:
            content = sms.content or ""
        if len(content) > MAX_REQUEST_CONTENT:
            raise InvalidRequest(
                f"the content has over {MAX_REQUEST_CONTENT} characters", code=CONTENT_TOO_LONG
            )
        text = render(content, sms.fields or {})
        if not text[:MAX_CONTENT].strip():
            raise InvalidRequest("the content is empty", code="missing_text")
        number = list_number(sms.recipient, found)
        # The account's rules (country, opt-outs, sender, limits) are decided by the submit
        # service, as for every interface; what only the list knows comes in with the
        # request: its opt-outs, its sender name, the seed's length.
        opted_out = await self._lists.opted_out(account_id, found.list_id, number)
        result = await self._submit.submit(
            SubmitRequest(
                account=account,
                recipients=[number],
                text=text,
                truncate_to=MAX_CONTENT,
                sender=_sender(sms.sender) or found.sms_sender,
                sender_required=True,
                opted_out=_opted_out(number, opted_out, account.rules.default_country),
                interface=INTERFACE,
                # isUnicode 1: UCS-2 whatever the text. 0 (or absent): GSM-7 where the text
                # allows it; text outside the GSM alphabet still goes as UCS-2 rather than
                # with characters replaced.
                encoding=Encoding.UCS2 if sms.unicode else None,
                client_ip=sms.client_ip,
            )
        )
        message = result.messages[0]
        try:
            delivery_id = await self._campaigns.add_delivery(
                account_id, found.list_id, message.id, sms.campaign
            )
        except GatewayError:
            # The SMS is stored and will go; only its DeliveryId and statistics are lost
            # (the seed's code 301).
            log.exception("delivery of message %s not recorded", message.id)
            return SmsSent(0, message.cost, message, recorded=False)
        return SmsSent(delivery_id, message.cost, message)

    async def delivery(self, console_id: int, list_id: int, delivery_id: int) -> Message:
        """The message a DeliveryId of the list stands for, with its current status."""
        account_id = await self._account_id(console_id)
        found = await self._campaigns.delivery(account_id, delivery_id)
        if found is None or found.list_id != list_id:
            raise NotFound(f"no delivery {delivery_id}", code=DELIVERY_NOT_FOUND)
        return await self._messages.get(account_id, found.message_id)

    async def account_of(self, console_id: int) -> str:
        return await self._account_id(console_id)

    async def campaigns(self, account_id: str, code: str | None = None) -> list[CampaignStats]:
        return await self._campaigns.stats(account_id, code)

    async def count_emails(self, account_id: str, code: str, name: str | None, count: int) -> None:
        await self._campaigns.count_email(account_id, code, name, count)


def _opted_out(number: str, opted_out: bool, default_country: str | None) -> frozenset[str]:
    """The list's opt-out of ``number``, as the submit service takes it (E.164)."""
    if not opted_out:
        return frozenset()
    try:
        return frozenset({normalize_number(number, default_country)})
    except InvalidNumber:
        return frozenset()  # the submit service refuses the number itself


def _sender(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if not _SENDER.match(value.strip()):
        raise InvalidSender(f"sender {value!r}: at most 11 letters and digits")
    return value.strip()
