"""SMTP+ users (seed 002, MailUp transactional email "Authentication"): ``s<console>_<n>``
usernames with a secret, one list each, and the states that refuse them (disabled, blocked
by an administrator, blocked until a date, deleted, the console suspended or deleted).

Each refusal has its own error ``code`` so that the dialect can answer with MailUp's.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from textgate.core.accounts import hash_secret, secret_matches
from textgate.core.clock import Clock, system_clock, to_ms
from textgate.core.lists import ConsoleStatus, SmtpUser
from textgate.errors import AuthenticationFailed, Forbidden, InvalidRequest, NotFound
from textgate.services.lists import ListService
from textgate.storage.smtp_users import SmtpUserRepo

__all__ = [
    "ACCOUNT_DELETED",
    "ACCOUNT_NOT_FOUND",
    "ACCOUNT_SUSPENDED",
    "USER_BLOCKED",
    "USER_BLOCKED_UNTIL",
    "USER_DELETED",
    "USER_NOT_ENABLED",
    "SmtpUserService",
]

USER_NOT_ENABLED = "smtp_user_not_enabled"
USER_BLOCKED = "smtp_user_blocked"
USER_BLOCKED_UNTIL = "smtp_user_blocked_until"
USER_DELETED = "smtp_user_deleted"
ACCOUNT_NOT_FOUND = "console_not_found"
ACCOUNT_SUSPENDED = "console_suspended"
ACCOUNT_DELETED = "console_deleted"

_SETTABLE = frozenset(
    {
        "enabled",
        "admin_block",
        "block_until",
        "priority",
        "note",
        "domain_list",
        "sender_list",
        "campaign",
    }
)


class SmtpUserService:
    def __init__(self, repo: SmtpUserRepo, lists: ListService, clock: Clock = system_clock) -> None:
        self._repo = repo
        self._lists = lists
        self._clock = clock

    async def create(self, account_id: str, list_id: int) -> tuple[SmtpUser, str]:
        """A new user of the list and its secret (the only copy: show it once). Secrets are
        random, 256 bits, so a fast digest is enough to store them (as for API keys)."""
        await self._lists.get(account_id, list_id)
        console = await self._lists.console(account_id)
        secret = secrets.token_urlsafe(24)
        user = await self._repo.create(account_id, list_id, console.console_id, hash_secret(secret))
        return user, secret

    async def update(self, username: str, changes: Mapping[str, Any]) -> SmtpUser:
        """Change a user's settings (``block_until`` as a datetime or None, ``deleted``
        True deletes it)."""
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "deleted":
                values["deleted_at"] = self._clock() if value else None
            elif name not in _SETTABLE:
                raise InvalidRequest(f"unknown SMTP+ user setting {name!r}")
            elif name == "block_until":
                values[name] = None if value is None else to_ms(value)
            elif name in ("enabled", "admin_block"):
                values[name] = 1 if value else 0
            elif name == "priority":
                if not 1 <= int(value) <= 5:
                    raise InvalidRequest("priority: 1 (high) to 5 (low)")
                values[name] = int(value)
            else:
                values[name] = value
        return await self._repo.update(username, **values)

    async def get(self, username: str) -> SmtpUser:
        found = await self._repo.get(username)
        if found is None:
            raise NotFound(f"no SMTP+ user {username}")
        return found

    async def authenticate(self, username: str, secret: str, *, to_send: bool = True) -> SmtpUser:
        """The user these credentials name, if it may send now; else why not. With
        ``to_send`` False only the credentials and deletion count: seed 002 points a blocked
        user to ListUserInfo "to get more details about that user"."""
        if not username or not secret:
            raise AuthenticationFailed("the operation is not authorized")
        stored = await self._repo.secret_hash(username)
        if stored is None or not secret_matches(secret, stored):
            raise AuthenticationFailed("the operation is not authorized")
        user = await self.get(username)
        if user.deleted_at is not None:
            raise Forbidden("the user has been deleted", code=USER_DELETED)
        if not to_send:
            return user
        console = await self._lists.console_of(user.account_id)
        if console is None:
            raise Forbidden("the account cannot be found", code=ACCOUNT_NOT_FOUND)
        if console.status is ConsoleStatus.SUSPENDED:
            raise Forbidden("the account has been suspended", code=ACCOUNT_SUSPENDED)
        if console.status is ConsoleStatus.DELETED:
            raise Forbidden("the account has been deleted", code=ACCOUNT_DELETED)
        if not user.enabled:
            raise Forbidden("the user is not enabled", code=USER_NOT_ENABLED)
        if user.admin_block:
            raise Forbidden("the user is blocked", code=USER_BLOCKED)
        if user.block_until is not None and to_ms(user.block_until) > self._clock():
            raise Forbidden(
                f"the user is blocked until {user.block_until.isoformat()}",
                code=USER_BLOCKED_UNTIL,
            )
        return user

    async def users(self, caller: SmtpUser, username: str | None = None) -> list[SmtpUser]:
        """Users of the caller's list: all, or the one named (refused outside the list)."""
        if username:
            found = await self._repo.get(username)
            if (
                found is None
                or found.account_id != caller.account_id
                or found.list_id != caller.list_id
            ):
                raise AuthenticationFailed("the operation is not authorized")
            if found.deleted_at is not None:
                raise Forbidden("the user has been deleted", code=USER_DELETED)
            return [found]
        return [
            u
            for u in await self._repo.of_list(caller.account_id, caller.list_id)
            if u.deleted_at is None
        ]
