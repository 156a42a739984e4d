"""OAuth2 client credentials and the access tokens issued for them (digests only)."""

from __future__ import annotations

from textgate.core.clock import Clock, system_clock
from textgate.storage.db import Database
from textgate.storage.txn import Query, Txn

__all__ = ["OAuthRepo"]


class OAuthRepo:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    async def add_client(self, client_id: str, account_id: str, secret_hash: str) -> None:
        now = self._clock()

        def txn() -> Txn[None]:
            yield Query(
                "INSERT INTO oauth_clients (id, account_id, secret_hash, created_at)"
                " VALUES (?, ?, ?, ?)",
                (client_id, account_id, secret_hash, now),
            )

        await self._db.txn(txn, urgent=True)

    async def client(self, client_id: str) -> tuple[str, str] | None:
        """(account id, secret digest) of a client, or None."""

        def txn() -> Txn[tuple[str, str] | None]:
            rows = yield Query(
                "SELECT account_id, secret_hash FROM oauth_clients WHERE id = ?", (client_id,)
            )
            return (rows[0]["account_id"], rows[0]["secret_hash"]) if rows else None

        return await self._db.txn(txn)

    async def delete_client(self, account_id: str, client_id: str) -> bool:
        def txn() -> Txn[bool]:
            rows = yield Query(
                "DELETE FROM oauth_clients WHERE id = ? AND account_id = ? RETURNING id",
                (client_id, account_id),
            )
            yield Query("DELETE FROM oauth_tokens WHERE client_id = ?", (client_id,))
            return bool(rows)

        return await self._db.txn(txn, urgent=True)

    async def add_token(
        self, token_hash: str, client_id: str, account_id: str, expires_at: int
    ) -> None:
        now = self._clock()

        def txn() -> Txn[None]:
            # Expired tokens are useless: each issue clears them.
            yield Query("DELETE FROM oauth_tokens WHERE expires_at < ?", (now,))
            yield Query(
                "INSERT INTO oauth_tokens (token_hash, client_id, account_id, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (token_hash, client_id, account_id, expires_at),
            )

        await self._db.txn(txn, urgent=True)

    async def token_account(self, token_hash: str) -> str | None:
        """The account of a token that has not expired and whose client still exists."""
        now = self._clock()

        def txn() -> Txn[str | None]:
            rows = yield Query(
                "SELECT t.account_id FROM oauth_tokens t JOIN oauth_clients c"
                " ON c.id = t.client_id WHERE t.token_hash = ? AND t.expires_at > ?",
                (token_hash, now),
            )
            return str(rows[0]["account_id"]) if rows else None

        return await self._db.txn(txn)
