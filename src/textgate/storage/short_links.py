"""Short links that stand for URLs in sent texts, and their click counts."""

from __future__ import annotations

from collections.abc import Sequence

from textgate.core.clock import Clock, system_clock
from textgate.errors import Conflict
from textgate.storage.db import Database
from textgate.storage.txn import Many, Query, Txn, in_list

__all__ = ["ShortLinkRepo"]


class ShortLinkRepo:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    async def add(self, account_id: str, links: Sequence[tuple[str, str]]) -> None:
        """(code, url) pairs; Conflict if a code is taken."""
        now = self._clock()

        def txn() -> Txn[None]:
            rows = yield in_list(
                "SELECT code FROM short_links WHERE code IN {in}", [code for code, _ in links]
            )
            if rows:
                raise Conflict("short link code taken")
            yield Many(
                "INSERT INTO short_links (code, account_id, url, clicks, created_at)"
                " VALUES (?, ?, ?, 0, ?)",
                [(code, account_id, url, now) for code, url in links],
            )

        if links:
            await self._db.txn(txn, urgent=True)

    async def follow(self, code: str) -> str | None:
        """The URL behind a code, counting the click; None for an unknown code."""
        now = self._clock()

        def txn() -> Txn[str | None]:
            rows = yield Query(
                "UPDATE short_links SET clicks = clicks + 1, last_click_at = ? WHERE code = ?"
                " RETURNING url",
                (now, code),
            )
            return str(rows[0]["url"]) if rows else None

        return await self._db.txn(txn)

    async def clicks(self, account_id: str, code: str) -> int | None:
        def txn() -> Txn[int | None]:
            rows = yield Query(
                "SELECT clicks FROM short_links WHERE code = ? AND account_id = ?",
                (code, account_id),
            )
            return int(rows[0]["clicks"]) if rows else None

        return await self._db.txn(txn)
