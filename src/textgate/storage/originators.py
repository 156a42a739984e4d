"""Authorised SMTP originators: sender addresses that may mail ``<number>@<domain>``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from textgate.errors import Conflict, NotFound
from textgate.storage.db import Database
from textgate.storage.tables import accounts, smtp_originators

__all__ = ["OriginatorRepo", "SmtpOriginator"]


@dataclass(frozen=True, slots=True)
class SmtpOriginator:
    address: str
    account_id: str
    originator: str | None


class OriginatorRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, account_id: str, address: str, originator: str | None, now: int) -> None:
        try:
            async with self._db.write() as conn:
                found = (
                    await conn.execute(select(accounts.c.id).where(accounts.c.id == account_id))
                ).first()
                if found is None:
                    raise NotFound("no such account")
                await conn.execute(
                    insert(smtp_originators).values(
                        address=address,
                        account_id=account_id,
                        originator=originator,
                        created_at=now,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"the address {address!r} is already an authorised originator") from exc

    async def remove(self, account_id: str, address: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                delete(smtp_originators).where(
                    smtp_originators.c.account_id == account_id,
                    smtp_originators.c.address == address,
                )
            )
        return bool(result.rowcount)

    async def get(self, address: str) -> SmtpOriginator | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(smtp_originators).where(smtp_originators.c.address == address)
                )
            ).first()
        return None if row is None else SmtpOriginator(row.address, row.account_id, row.originator)

    async def of_account(self, account_id: str) -> list[SmtpOriginator]:
        async with self._db.read() as conn:
            rows = (
                await conn.execute(
                    select(smtp_originators)
                    .where(smtp_originators.c.account_id == account_id)
                    .order_by(smtp_originators.c.address)
                )
            ).all()
        return [SmtpOriginator(r.address, r.account_id, r.originator) for r in rows]
