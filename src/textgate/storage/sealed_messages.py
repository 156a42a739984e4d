"""Encrypted message texts: ciphertext and key-derivation salt, never the key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, insert, select, update

from textgate.core.clock import Clock, system_clock
from textgate.storage.db import Database
from textgate.storage.tables import sealed_messages

__all__ = ["SealedMessageRepo", "StoredSealed"]


@dataclass(frozen=True, slots=True)
class StoredSealed:
    salt: str
    ciphertext: str
    failures: int


class SealedMessageRepo:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    async def add(self, code: str, account_id: str, salt: str, ciphertext: str) -> None:
        now = self._clock()
        async with self._db.write() as conn:
            await conn.execute(
                insert(sealed_messages).values(
                    code=code,
                    account_id=account_id,
                    salt=salt,
                    ciphertext=ciphertext,
                    failures=0,
                    created_at=now,
                )
            )

    async def get(self, code: str) -> StoredSealed | None:
        c = sealed_messages.c
        async with self._db.read() as conn:
            row = (
                await conn.execute(select(c.salt, c.ciphertext, c.failures).where(c.code == code))
            ).first()
        return None if row is None else StoredSealed(row.salt, row.ciphertext, int(row.failures))

    async def failed(self, code: str) -> None:
        c = sealed_messages.c
        async with self._db.write() as conn:
            await conn.execute(
                update(sealed_messages).where(c.code == code).values(failures=c.failures + 1)
            )

    async def opened(self, code: str) -> None:
        """The first opening is kept."""
        now = self._clock()
        c = sealed_messages.c
        async with self._db.write() as conn:
            await conn.execute(
                update(sealed_messages)
                .where(c.code == code)
                .values(opened_at=func.coalesce(c.opened_at, now))
            )
