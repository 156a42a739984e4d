"""OAuth2 client credentials and the access tokens issued for them (digests only)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from textgate.core.clock import Clock, system_clock
from textgate.errors import Conflict
from textgate.storage.db import Database
from textgate.storage.tables import oauth_clients, oauth_tokens

__all__ = ["OAuthRepo"]

_clients, _tokens = oauth_clients.c, oauth_tokens.c


class OAuthRepo:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    async def add_client(self, client_id: str, account_id: str, secret_hash: str) -> None:
        """Conflict if the id is taken or the account does not exist."""
        now = self._clock()
        try:
            async with self._db.write() as conn:
                await conn.execute(
                    insert(oauth_clients).values(
                        id=client_id, account_id=account_id, secret_hash=secret_hash, created_at=now
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"conflicting write: {exc.orig}") from exc

    async def client(self, client_id: str) -> tuple[str, str] | None:
        """(account id, secret digest) of a client, or None."""
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(_clients.account_id, _clients.secret_hash).where(
                        _clients.id == client_id
                    )
                )
            ).first()
        return None if row is None else (row.account_id, row.secret_hash)

    async def delete_client(self, account_id: str, client_id: str) -> bool:
        async with self._db.write() as conn:
            deleted = await conn.execute(
                delete(oauth_clients).where(
                    _clients.id == client_id, _clients.account_id == account_id
                )
            )
            await conn.execute(delete(oauth_tokens).where(_tokens.client_id == client_id))
        return bool(deleted.rowcount)

    async def add_token(
        self, token_hash: str, client_id: str, account_id: str, expires_at: int
    ) -> None:
        now = self._clock()
        try:
            async with self._db.write() as conn:
                # Expired tokens are useless: each issue clears them.
                await conn.execute(delete(oauth_tokens).where(_tokens.expires_at < now))
                await conn.execute(
                    insert(oauth_tokens).values(
                        token_hash=token_hash,
                        client_id=client_id,
                        account_id=account_id,
                        expires_at=expires_at,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"conflicting write: {exc.orig}") from exc

    async def token_account(self, token_hash: str) -> str | None:
        """The account of a token that has not expired and whose client still exists."""
        now = self._clock()
        async with self._db.read() as conn:
            found = (
                await conn.execute(
                    select(_tokens.account_id)
                    .join(oauth_clients, _clients.id == _tokens.client_id)
                    .where(_tokens.token_hash == token_hash, _tokens.expires_at > now)
                )
            ).scalar_one_or_none()
        return None if found is None else str(found)
