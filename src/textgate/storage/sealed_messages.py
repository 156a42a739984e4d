"""Encrypted message texts: ciphertext and key-derivation salt, never the key."""

from __future__ import annotations

from dataclasses import dataclass

from textgate.core.clock import Clock, system_clock
from textgate.storage.db import Database
from textgate.storage.txn import Query, Txn

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

        def txn() -> Txn[None]:
            yield Query(
                "INSERT INTO sealed_messages (code, account_id, salt, ciphertext, failures,"
                " created_at) VALUES (?, ?, ?, ?, 0, ?)",
                (code, account_id, salt, ciphertext, now),
            )

        await self._db.txn(txn, urgent=True)

    async def get(self, code: str) -> StoredSealed | None:
        def txn() -> Txn[StoredSealed | None]:
            rows = yield Query(
                "SELECT salt, ciphertext, failures FROM sealed_messages WHERE code = ?", (code,)
            )
            if not rows:
                return None
            r = rows[0]
            return StoredSealed(r["salt"], r["ciphertext"], int(r["failures"]))

        return await self._db.txn(txn)

    async def failed(self, code: str) -> None:
        def txn() -> Txn[None]:
            yield Query(
                "UPDATE sealed_messages SET failures = failures + 1 WHERE code = ?", (code,)
            )

        await self._db.txn(txn, urgent=True)

    async def opened(self, code: str) -> None:
        now = self._clock()

        def txn() -> Txn[None]:
            yield Query(
                "UPDATE sealed_messages SET opened_at = COALESCE(opened_at, ?) WHERE code = ?",
                (now, code),
            )

        await self._db.txn(txn, urgent=True)
