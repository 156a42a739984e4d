"""OAuth2 client credentials grant (RFC 6749 section 4.4) for the interfaces that offer it:
a client id and secret are exchanged for a Bearer access token that stands for the account
(SMSmobileAPI, seed 003, "OAuth2 Authentication")."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from textgate.core.accounts import Account, hash_secret
from textgate.core.clock import Clock, system_clock
from textgate.errors import AuthenticationFailed, InvalidRequest, NotFound
from textgate.services.accounts import AccountService
from textgate.services.login_limiter import LoginLimiter
from textgate.storage.oauth import OAuthRepo

__all__ = ["CLIENT_CREDENTIALS", "ClientCredentials", "IssuedToken", "OAuthService"]

CLIENT_CREDENTIALS = "client_credentials"
# Failed client credentials are counted with the logins', under a name no username can
# have (usernames have no ':').
LIMIT_PREFIX = "oauth2-client:"


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    """Shown once; only its digest is kept."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    """Seconds."""


class OAuthService:
    def __init__(
        self,
        repo: OAuthRepo,
        accounts: AccountService,
        *,
        limiter: LoginLimiter,
        token_seconds: int = 3600,
        clock: Clock = system_clock,
    ) -> None:
        self._repo = repo
        self._accounts = accounts
        self._token_seconds = token_seconds
        self._clock = clock
        self._limiter = limiter

    async def create_client(self, account_id: str) -> ClientCredentials:
        client_id = secrets.token_hex(16)
        secret = secrets.token_urlsafe(32)
        await self._repo.add_client(client_id, account_id, hash_secret(secret))
        return ClientCredentials(client_id, secret)

    async def delete_client(self, account_id: str, client_id: str) -> None:
        if not await self._repo.delete_client(account_id, client_id):
            raise NotFound("no such OAuth2 client")

    async def issue(
        self, grant_type: str, client_id: str, client_secret: str, *, client_ip: str | None
    ) -> IssuedToken:
        """A token for the client credentials; ``client_ip`` is where the request came from
        (failures are counted per client id and address, as logins are)."""
        if grant_type != CLIENT_CREDENTIALS:
            raise InvalidRequest("grant_type must be client_credentials", code="unsupported_grant")
        if not client_id or not client_secret:
            raise AuthenticationFailed("client_id and client_secret are required")
        return await self._limiter.attempt(
            LIMIT_PREFIX + client_id, client_ip, lambda: self._issue(client_id, client_secret)
        )

    async def _issue(self, client_id: str, client_secret: str) -> IssuedToken:
        found = await self._repo.client(client_id)
        # Compared even for an unknown client, so timing does not tell which ids exist.
        stored = found[1] if found is not None else hash_secret(secrets.token_hex(8))
        if not hmac.compare_digest(hash_secret(client_secret), stored) or found is None:
            raise AuthenticationFailed("invalid client credentials")
        token = secrets.token_urlsafe(32)
        expires_at = self._clock() + self._token_seconds * 1000
        await self._repo.add_token(hash_secret(token), client_id, found[0], expires_at)
        return IssuedToken(token, self._token_seconds)

    async def authenticate(self, token: str) -> Account:
        account_id = await self._repo.token_account(hash_secret(token))
        if account_id is None:
            raise AuthenticationFailed("invalid or expired access token")
        try:
            return await self._accounts.get(account_id)
        except NotFound as exc:
            raise AuthenticationFailed("invalid or expired access token") from exc
