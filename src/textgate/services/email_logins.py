"""How the email interfaces identify an account from what an email carries.

- LabsMobile MailSMS (seed 000): the From address is the account's username and the subject
  its API token; here the token is one of the account's API keys and the username its login
  username (or, failing that, its name).
- ASPSMS textsms@ and xml@ (seed 004): a UserKey (the account id, as smsend's ``user_key``,
  or the login username) and the login password.
- SMTP AUTH: a login username and password.

Passwords are checked as every login's are (:class:`CredentialService`), failures counted
against the same budgets per username and client address.
"""

from __future__ import annotations

import hmac

from textgate.core.accounts import Account
from textgate.errors import AuthenticationFailed
from textgate.services.accounts import AccountService
from textgate.services.credentials import CredentialService
from textgate.storage.credentials import CredentialRepo

__all__ = ["EmailLoginService"]


class EmailLoginService:
    def __init__(
        self, accounts: AccountService, credentials: CredentialRepo, logins: CredentialService
    ) -> None:
        self._accounts = accounts
        self._credentials = credentials
        self._logins = logins

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

    async def by_user_key(self, user_key: str, password: str, *, client_ip: str | None) -> Account:
        """The account of an ASPSMS UserKey (account id or login username) and password;
        failures count against the username, whichever form named it."""
        key = user_key.strip()
        username = None
        if key:
            username = await self._credentials.username(key)
            if username is None:
                username = key
        return await self.login(username or "", password, client_ip=client_ip)

    async def login(self, username: str, password: str, *, client_ip: str | None) -> Account:
        try:
            return await self._logins.verify(username, password, client_ip=client_ip)
        except AuthenticationFailed as exc:
            raise AuthenticationFailed("wrong user key or password") from exc
