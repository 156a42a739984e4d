"""How the email interfaces identify an account from what an email carries.

- LabsMobile MailSMS (seed 000): the From address is the account's username and the subject
  its API token; here the token is one of the account's API keys and the username its login
  username (or, failing that, its name).
- ASPSMS textsms@ and xml@ (seed 004): a UserKey (the account id, as smsend's ``user_key``,
  or the login username) and the login password.
- SMTP AUTH: a login username and password.

Failed password checks are counted per identifier and, past a limit, refused unchecked for
a while: scrypt slows each guess, the limit caps how many an attacker gets.
"""

from __future__ import annotations

import asyncio
import hmac

from textgate.core.accounts import Account
from textgate.core.clock import Clock, system_clock
from textgate.core.passwords import verify_password
from textgate.errors import AuthenticationFailed, NotFound, RateLimited
from textgate.services.accounts import AccountService
from textgate.storage.credentials import CredentialRepo

__all__ = ["EmailLoginService"]

MAX_FAILED = 10
FAILED_WINDOW_MS = 15 * 60 * 1000
MAX_TRACKED = 100_000


class EmailLoginService:
    def __init__(
        self, accounts: AccountService, credentials: CredentialRepo, clock: Clock = system_clock
    ) -> None:
        self._accounts = accounts
        self._credentials = credentials
        self._clock = clock
        # identifier -> (failed attempts, start of their window in ms)
        self._failures: dict[str, tuple[int, int]] = {}

    async def by_token(self, username: str, token: str) -> Account:
        """The account whose API key is ``token``, if ``username`` names it too."""
        try:
            account = await self._accounts.authenticate(token.strip())
        except AuthenticationFailed as exc:
            raise AuthenticationFailed("wrong username or API token") from exc
        wanted = username.strip().casefold()
        login = await self._credentials.username(account.id)
        names = {account.name.casefold(), *((login.casefold(),) if login else ())}
        if not any(hmac.compare_digest(wanted.encode(), n.encode()) for n in names):
            raise AuthenticationFailed("wrong username or API token")
        return account

    async def by_user_key(self, user_key: str, password: str) -> Account:
        """The account of an ASPSMS UserKey (account id or login username) and password."""
        key = user_key.strip()
        username = None
        if key:
            username = await self._credentials.username(key)
            if username is None:
                username = key
        return await self.login(username or "", password)

    async def login(self, username: str, password: str) -> Account:
        now = self._clock()
        failed, since = self._failures.get(username, (0, now))
        if now - since > FAILED_WINDOW_MS:
            failed, since = 0, now
        if failed >= MAX_FAILED:
            raise RateLimited("too many failed logins for this user; try again later")
        found = await self._credentials.login(username) if username else None
        # scrypt takes tens of milliseconds of CPU on purpose: off the event loop. An unknown
        # user is hashed too, so the answer takes as long either way.
        ok = await asyncio.to_thread(verify_password, password, None if found is None else found[1])
        if found is None or not ok:
            if len(self._failures) > MAX_TRACKED:
                self._failures.clear()
            self._failures[username] = (failed + 1, since)
            raise AuthenticationFailed("wrong user key or password")
        self._failures.pop(username, None)
        try:
            return await self._accounts.get(found[0])
        except NotFound as exc:
            raise AuthenticationFailed("wrong user key or password") from exc
