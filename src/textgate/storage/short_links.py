"""Short links that stand for URLs in sent texts, and their click counts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.short_links import ShortLink
from textgate.errors import Conflict
from textgate.storage.db import Database
from textgate.storage.tables import short_links

__all__ = ["ShortLinkRepo"]


class ShortLinkRepo:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    async def add(self, account_id: str, links: Sequence[tuple[str, str]]) -> None:
        """(code, url) pairs; Conflict if a code is taken."""
        if not links:
            return
        now = self._clock()
        codes = [code for code, _ in links]
        rows = [
            {"code": code, "account_id": account_id, "url": url, "clicks": 0, "created_at": now}
            for code, url in links
        ]
        try:
            async with self._db.write() as conn:
                taken = await conn.execute(
                    select(short_links.c.code).where(short_links.c.code.in_(codes)).limit(1)
                )
                if taken.first() is not None:
                    raise Conflict("short link code taken")
                await conn.execute(insert(short_links), rows)
        except IntegrityError as exc:
            # Taken by another process between the check and the insert.
            raise Conflict("short link code taken") from exc

    async def follow(self, code: str) -> str | None:
        """The URL behind a code, counting the click; None for an unknown code."""
        now = self._clock()
        async with self._db.write() as conn:
            url = (
                await conn.execute(
                    update(short_links)
                    .where(short_links.c.code == code)
                    .values(clicks=short_links.c.clicks + 1, last_click_at=now)
                    .returning(short_links.c.url)
                )
            ).scalar_one_or_none()
        return None if url is None else str(url)

    async def get(self, account_id: str, code: str) -> ShortLink | None:
        """One of the account's links; None for a code it does not own."""
        cols = short_links.c
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(
                        cols.code, cols.url, cols.clicks, cols.created_at, cols.last_click_at
                    ).where(cols.code == code, cols.account_id == account_id)
                )
            ).first()
        if row is None:
            return None
        return ShortLink(
            code=row.code,
            url=row.url,
            clicks=int(row.clicks),
            created_at=from_ms(row.created_at),
            last_click_at=None if row.last_click_at is None else from_ms(row.last_click_at),
        )
