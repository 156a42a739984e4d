"""Username/password logins, sessions and access tokens, for the dialects whose clients log
in rather than present an API key.

A login hands out a random secret: a session (valid while used, expiring after an idle time)
or an access token (valid until revoked). Only its SHA-256 digest is stored; the user key
that accompanies it is the account's id, a public identifier.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from textgate.core.accounts import Account, hash_secret
from textgate.core.clock import Clock, system_clock
from textgate.core.passwords import MAX_PASSWORD_BYTES, hash_password, verify_password
from textgate.errors import AuthenticationFailed, InvalidRequest, NotFound
from textgate.services.accounts import AccountService
from textgate.services.login_limiter import LoginLimiter
from textgate.storage.credentials import CredentialRepo

__all__ = ["CredentialService", "Grant", "GrantKind"]

MIN_PASSWORD_LENGTH = 8
MAX_USERNAME_LENGTH = 128
# A session's last use is written at most this often (and at least ten times per idle
# period): a write per request would serialise every authenticated call on SQLite.
MAX_TOUCH_INTERVAL_MS = 30_000


class GrantKind(StrEnum):
    SESSION = "session"
    TOKEN = "token"  # noqa: S105 (a kind of grant, not a secret)


@dataclass(frozen=True, slots=True)
class Grant:
    user_key: str
    secret: str
    """The only copy of the session key or access token."""


class CredentialService:
    def __init__(
        self,
        repo: CredentialRepo,
        accounts: AccountService,
        *,
        limiter: LoginLimiter,
        session_idle_seconds: float = 300.0,
        clock: Clock = system_clock,
    ) -> None:
        self._repo = repo
        self._accounts = accounts
        self._idle_ms = int(session_idle_seconds * 1000)
        self._touch_ms = min(MAX_TOUCH_INTERVAL_MS, self._idle_ms // 10)
        self._clock = clock
        # Failed logins are refused unchecked past a budget: scrypt slows each guess, the
        # budget caps how many a client gets.
        self._limiter = limiter

    async def set_login(self, account_id: str, username: str, password: str) -> None:
        """Give the account a username and password (replacing any it had); its sessions and
        tokens are revoked, as after any password change."""
        check_username(username)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidRequest(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
        if len(password.encode()) > MAX_PASSWORD_BYTES:
            raise InvalidRequest(f"a password has at most {MAX_PASSWORD_BYTES} bytes")
        # scrypt takes tens of milliseconds of CPU on purpose: off the event loop.
        stored = await asyncio.to_thread(hash_password, password)
        now = self._clock()
        await self._repo.set_login(account_id, username, stored, now)
        await self._repo.revoke(account_id, now)
        self._limiter.forget(username)

    async def username(self, account_id: str) -> str | None:
        return await self._repo.username(account_id)

    async def login(
        self, username: str, password: str, kind: GrantKind, *, client_ip: str | None
    ) -> Grant:
        """A new session or token; ``client_ip`` is where the attempt came from (failures
        are counted per username and address)."""
        account_id = await self._verify(username, password, client_ip)
        now = self._clock()
        secret = secrets.token_urlsafe(32)
        await self._repo.add_token(
            hash_secret(secret), account_id, kind.value, now, purge_before=now - self._idle_ms
        )
        return Grant(account_id, secret)

    async def verify(self, username: str, password: str, *, client_ip: str | None) -> Account:
        """The account of a username and password, checked on every request (HTTP Basic),
        with the same limit on failures as a login."""

        async def check() -> Account:
            account_id = await self._check(username, password)
            try:
                return await self._accounts.get(account_id)
            except NotFound as exc:
                raise AuthenticationFailed("wrong username or password") from exc

        return await self._limiter.attempt(username, client_ip, check)

    async def _verify(self, username: str, password: str, client_ip: str | None) -> str:
        return await self._limiter.attempt(
            username, client_ip, lambda: self._check(username, password)
        )

    async def _check(self, username: str, password: str) -> str:
        found = await self._repo.login(username) if username else None
        # scrypt takes tens of milliseconds of CPU on purpose: off the event loop. An unknown
        # user is hashed too, so the answer takes as long either way.
        ok = await asyncio.to_thread(verify_password, password, None if found is None else found[1])
        if found is None or not ok:
            raise AuthenticationFailed("wrong username or password")
        return found[0]

    async def authenticate(self, user_key: str, secret: str, kind: GrantKind) -> Account:
        """The account a user key and session key (or access token) belong to."""
        if not user_key or not secret:
            raise AuthenticationFailed("missing user key or session key")
        token_hash = hash_secret(secret)
        stored = await self._repo.token(token_hash)
        if (
            stored is None
            or stored.kind != kind.value
            or not hmac.compare_digest(stored.account_id.encode(), user_key.encode())
        ):
            raise AuthenticationFailed("invalid user key or session key")
        if kind is GrantKind.SESSION:
            now = self._clock()
            idle = now - stored.last_used_at
            if idle > self._idle_ms:
                raise AuthenticationFailed("the session expired; log in again")
            if idle >= self._touch_ms:
                await self._repo.touch(token_hash, now)
        try:
            return await self._accounts.get(stored.account_id)
        except NotFound as exc:
            raise AuthenticationFailed("invalid user key or session key") from exc

    async def logout(self, secret: str) -> None:
        await self._repo.revoke_one(hash_secret(secret), self._clock())

    async def revoke(self, account_id: str, kind: GrantKind | None = None) -> int:
        """Revoke the account's sessions and tokens (or those of one kind); how many."""
        return await self._repo.revoke(
            account_id, self._clock(), kind=None if kind is None else kind.value
        )


def check_username(username: str) -> None:
    # ':' would split HTTP Basic credentials and ';' the "user_key;session_key" answers
    # some clients parse; control characters and spaces only ever arrive by mistake.
    if not 0 < len(username) <= MAX_USERNAME_LENGTH:
        raise InvalidRequest(f"a username has 1 to {MAX_USERNAME_LENGTH} characters")
    if any(c in ":;" or c.isspace() or not c.isprintable() for c in username):
        raise InvalidRequest("a username may not contain spaces, ':', ';' or control characters")
