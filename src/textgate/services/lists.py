"""Mailing lists of an account (seed 002, MailUp): the console number, lists with their
ListSecret, default prefix and SMS sender, per-list opt-outs, and stored templates.

Error ``code`` values name each refusal so that a dialect can tell them apart (MailUp has
one application code for each).
"""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Sequence

from textgate.core.lists import Console, ConsoleStatus, MailingList, Template, TemplateKind
from textgate.core.numbers import normalize_number, validate_sender
from textgate.errors import AuthenticationFailed, InvalidRequest, NotFound
from textgate.services.accounts import AccountService
from textgate.storage.lists import ListRepo

__all__ = [
    "LIST_GUID_FORMAT",
    "LIST_GUID_INVALID",
    "LIST_NOT_FOUND",
    "LIST_SECRET_FORMAT",
    "LIST_SECRET_INVALID",
    "NUMBER_PREFIX_MISSING",
    "TEMPLATE_NOT_FOUND",
    "ListService",
    "is_guid",
    "list_number",
]

LIST_NOT_FOUND = "list_not_found"
LIST_GUID_FORMAT = "list_guid_format"
LIST_GUID_INVALID = "list_guid_invalid"
LIST_SECRET_FORMAT = "list_secret_format"  # noqa: S105 (an error code)
LIST_SECRET_INVALID = "list_secret_invalid"  # noqa: S105 (an error code)
TEMPLATE_NOT_FOUND = "template_not_found"
NUMBER_PREFIX_MISSING = "number_prefix_missing"

_PREFIX = re.compile(r"^\+?(\d{1,4})$")
MAX_TEMPLATE_LENGTH = 100_000
# Template numbers are stored as 32-bit integers, as MailUp's TemplateId is an Int32 (seed
# 002's .NET examples).
MAX_TEMPLATE_ID = 2**31 - 1


def is_guid(value: str) -> bool:
    """A GUID as MailUp writes them (8-4-4-4-12 hex digits, optionally braced)."""
    try:
        uuid.UUID(value.strip())
    except ValueError:
        return False
    return True


class ListService:
    def __init__(self, repo: ListRepo, accounts: AccountService) -> None:
        self._repo = repo
        self._accounts = accounts

    async def console(self, account_id: str, number: int | None = None) -> Console:
        """The account's console, made on first use (``number`` chooses its number)."""
        await self._accounts.get(account_id)
        return await self._repo.ensure_console(account_id, number)

    async def find_console(self, console_id: int) -> Console | None:
        return await self._repo.console(console_id)

    async def console_of(self, account_id: str) -> Console | None:
        return await self._repo.console_of(account_id)

    async def set_console_status(self, account_id: str, status: ConsoleStatus) -> None:
        await self._repo.set_console_status(account_id, status)

    async def create(
        self,
        account_id: str,
        name: str,
        *,
        default_prefix: str | None = None,
        sms_sender: str | None = None,
        guid: str | None = None,
    ) -> MailingList:
        """A new list; ``guid`` keeps a list's GUID from elsewhere (clients that move to
        textgate keep the ListGuid written in their code)."""
        await self.console(account_id)
        name = name.strip()
        if not 0 < len(name) <= 100:
            raise InvalidRequest("a list name has 1 to 100 characters")
        return await self._repo.create_list(
            account_id,
            name,
            default_prefix=_prefix(default_prefix),
            sms_sender=_sender(sms_sender),
            guid=None if guid is None else _guid(guid),
        )

    async def update(
        self,
        account_id: str,
        list_id: int,
        *,
        default_prefix: str | None = None,
        sms_sender: str | None = None,
    ) -> MailingList:
        values: dict[str, str | None] = {}
        if default_prefix is not None:
            values["default_prefix"] = _prefix(default_prefix)
        if sms_sender is not None:
            values["sms_sender"] = _sender(sms_sender)
        if not values:
            return await self._repo.get_list(account_id, list_id)
        return await self._repo.update_list(account_id, list_id, **values)

    async def lists(self, account_id: str) -> list[MailingList]:
        return await self._repo.lists(account_id)

    async def get(self, account_id: str, list_id: int) -> MailingList:
        found = await self._repo.find_list(account_id, list_id)
        if found is None:
            raise NotFound(f"no list {list_id} in this account", code=LIST_NOT_FOUND)
        return found

    async def secret(self, account_id: str, list_id: int) -> str | None:
        return (await self.get(account_id, list_id)).secret

    async def create_secret(self, account_id: str, list_id: int, guid: str) -> str:
        """The list's ListSecret, made now if it has none (the GUID must be the list's)."""
        found = await self._checked_guid(account_id, list_id, guid)
        if found.secret is not None:
            return found.secret
        secret = await self._repo.set_secret(account_id, list_id, str(uuid.uuid4()))
        assert secret is not None
        return secret

    async def import_secret(self, account_id: str, list_id: int, secret: str) -> str:
        """Give the list a ListSecret from elsewhere (replacing its own), so that clients
        moving to textgate keep the secret written in their code."""
        await self.get(account_id, list_id)
        stored = await self._repo.set_secret(account_id, list_id, _guid(secret), replace=True)
        assert stored is not None
        return stored

    async def delete_secret(self, account_id: str, list_id: int, guid: str) -> None:
        """Disable transactional SMS on the list until a new secret is made."""
        await self._checked_guid(account_id, list_id, guid)
        await self._repo.set_secret(account_id, list_id, None)

    async def checked(self, account_id: str, list_id: int, guid: str, secret: str) -> MailingList:
        """The list, if ``guid`` and ``secret`` are its own (the SMS API's credentials)."""
        if not is_guid(secret):
            raise InvalidRequest("ListSecret is not a GUID", code=LIST_SECRET_FORMAT)
        found = await self._checked_guid(account_id, list_id, guid)
        stored = found.secret
        if stored is None or not hmac.compare_digest(
            stored.lower().encode(), _guid(secret).encode()
        ):
            raise AuthenticationFailed(
                "ListSecret is not valid for the list", code=LIST_SECRET_INVALID
            )
        return found

    async def _checked_guid(self, account_id: str, list_id: int, guid: str) -> MailingList:
        if not is_guid(guid):
            raise InvalidRequest("ListGUID is not a GUID", code=LIST_GUID_FORMAT)
        found = await self.get(account_id, list_id)
        if found.guid.lower() != _guid(guid):
            raise InvalidRequest("ListGUID is not the list's", code=LIST_GUID_INVALID)
        return found

    async def add_opt_outs(
        self, account_id: str, list_id: int, numbers: Sequence[str]
    ) -> list[str]:
        found = await self.get(account_id, list_id)
        normalized = [list_number(n, found) for n in numbers]
        await self._repo.add_opt_outs(account_id, list_id, normalized)
        return normalized

    async def remove_opt_outs(
        self, account_id: str, list_id: int, numbers: Sequence[str]
    ) -> list[str]:
        found = await self.get(account_id, list_id)
        normalized = [list_number(n, found) for n in numbers]
        await self._repo.remove_opt_outs(account_id, list_id, normalized)
        return normalized

    async def opt_outs(self, account_id: str, list_id: int) -> list[str]:
        await self.get(account_id, list_id)
        return await self._repo.opt_outs(account_id, list_id)

    async def opted_out(self, account_id: str, list_id: int, number: str) -> bool:
        return await self._repo.opted_out(account_id, list_id, number)

    async def add_template(
        self,
        account_id: str,
        kind: TemplateKind,
        name: str,
        *,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        template_id: int | None = None,
    ) -> Template:
        """``template_id``: the number clients send as ``TemplateId`` (moving from MailUp,
        the one it had there); unset, the account's next number."""
        await self._accounts.get(account_id)
        if not 0 < len(name.strip()) <= 100:
            raise InvalidRequest("a template name has 1 to 100 characters")
        if kind is TemplateKind.SMS and not text:
            raise InvalidRequest("an SMS template needs a text")
        if kind is TemplateKind.EMAIL and not (text or html):
            raise InvalidRequest("an email template needs a text or an HTML body")
        if any(len(v or "") > MAX_TEMPLATE_LENGTH for v in (subject, text, html)):
            raise InvalidRequest(f"a template part has at most {MAX_TEMPLATE_LENGTH} characters")
        if template_id is not None and not 0 < template_id <= MAX_TEMPLATE_ID:
            raise InvalidRequest(f"a template id is a number from 1 to {MAX_TEMPLATE_ID}")
        return await self._repo.add_template(
            account_id,
            kind,
            name.strip(),
            subject=subject,
            text=text,
            html=html,
            template_id=template_id,
        )

    async def template(self, account_id: str, template_id: int, kind: TemplateKind) -> Template:
        found = await self._repo.template(account_id, template_id)
        if found is None or found.kind is not kind:
            raise NotFound(f"no {kind.value} template {template_id}", code=TEMPLATE_NOT_FOUND)
        return found

    async def templates(self, account_id: str) -> list[Template]:
        return await self._repo.templates(account_id)

    async def remove_template(self, account_id: str, template_id: int) -> None:
        await self._repo.remove_template(account_id, template_id)


def _guid(value: str) -> str:
    """A GUID in its canonical form (lower case, 8-4-4-4-12)."""
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError as exc:
        raise InvalidRequest(f"not a GUID: {value!r}", code=LIST_GUID_FORMAT) from exc


def _prefix(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    match = _PREFIX.match(value.strip())
    if match is None:
        raise InvalidRequest("a default prefix is a country calling code, such as 39 or +39")
    return match.group(1)


def _sender(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return validate_sender(value)


def list_number(raw: str, found: MailingList) -> str:
    """``raw`` in E.164: numbers without an international prefix (``+`` or ``00``) get the
    list's default prefix (seed 002, "Recipient"); without one they are refused."""
    text = raw.strip()
    if not text.startswith(("+", "00")):
        if not found.default_prefix or not text:
            raise InvalidRequest(
                "the number has no international prefix and the list no default prefix",
                code=NUMBER_PREFIX_MISSING,
            )
        text = f"+{found.default_prefix}{text}"
    return normalize_number(text, None)
