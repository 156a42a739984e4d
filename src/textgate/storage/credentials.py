"""Login credentials (username + password hash), sessions and access tokens."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from textgate.storage.db import Database
from textgate.storage.logins import NamedLogins
from textgate.storage.tables import auth_tokens, login_credentials

__all__ = ["CredentialRepo", "StoredToken"]


@dataclass(frozen=True, slots=True)
class StoredToken:
    account_id: str
    kind: str
    last_used_at: int


class CredentialRepo:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._logins = NamedLogins(db, login_credentials, "username")

    async def set_login(self, account_id: str, username: str, password_hash: str, now: int) -> None:
        """Set (or replace) the account's username and password."""
        await self._logins.set_login(account_id, username, password_hash, now)

    async def login(self, username: str) -> tuple[str, str] | None:
        """(account id, password hash) of a username, or None."""
        return await self._logins.login(username)

    async def username(self, account_id: str) -> str | None:
        return await self._logins.name_of(account_id)

    async def add_token(
        self, token_hash: str, account_id: str, kind: str, now: int, *, purge_before: int
    ) -> None:
        """Store a new session or token; the account's sessions idle since ``purge_before``
        are deleted in the same transaction (they can never be used again)."""
        async with self._db.write() as conn:
            await conn.execute(
                delete(auth_tokens).where(
                    auth_tokens.c.account_id == account_id,
                    auth_tokens.c.kind == "session",
                    auth_tokens.c.last_used_at < purge_before,
                )
            )
            await conn.execute(
                insert(auth_tokens).values(
                    token_hash=token_hash,
                    account_id=account_id,
                    kind=kind,
                    created_at=now,
                    last_used_at=now,
                )
            )

    async def token(self, token_hash: str) -> StoredToken | None:
        """A live (not revoked) session or token by the digest of its secret."""
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(
                        auth_tokens.c.account_id, auth_tokens.c.kind, auth_tokens.c.last_used_at
                    ).where(
                        auth_tokens.c.token_hash == token_hash, auth_tokens.c.revoked_at.is_(None)
                    )
                )
            ).first()
        return None if row is None else StoredToken(row.account_id, row.kind, row.last_used_at)

    async def touch(self, token_hash: str, now: int) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                update(auth_tokens)
                .where(auth_tokens.c.token_hash == token_hash, auth_tokens.c.last_used_at < now)
                .values(last_used_at=now)
            )

    async def revoke(self, account_id: str, now: int, *, kind: str | None = None) -> int:
        """Revoke the account's live sessions and tokens (or those of one kind); how many."""
        query = update(auth_tokens).where(
            auth_tokens.c.account_id == account_id, auth_tokens.c.revoked_at.is_(None)
        )
        if kind is not None:
            query = query.where(auth_tokens.c.kind == kind)
        async with self._db.write() as conn:
            result = await conn.execute(query.values(revoked_at=now))
        return int(result.rowcount)

    async def revoke_one(self, token_hash: str, now: int) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                update(auth_tokens)
                .where(auth_tokens.c.token_hash == token_hash, auth_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
