"""Authorised SMTP originators: sender addresses that may mail ``<number>@<domain>``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from textgate.errors import Conflict, NotFound
from textgate.storage.db import Database
from textgate.storage.secrets import DIGEST
from textgate.storage.tables import accounts, smtp_originators

__all__ = ["OriginatorRepo", "SmtpOriginator"]


@dataclass(frozen=True, slots=True)
class SmtpOriginator:
    address: str
    """As lists show it: masked (the stored form is a digest, see ``storage.secrets``)."""
    account_id: str
    originator: str | None


class OriginatorRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, account_id: str, digest: str, hint: str, originator: str | None, now: int
    ) -> None:
        """Authorise the address whose digest is ``digest`` (``hint`` is what lists show)."""
        try:
            async with self._db.write() as conn:
                found = (
                    await conn.execute(select(accounts.c.id).where(accounts.c.id == account_id))
                ).first()
                if found is None:
                    raise NotFound("no such account")
                await conn.execute(
                    insert(smtp_originators).values(
                        address=digest,
                        hint=hint,
                        account_id=account_id,
                        originator=originator,
                        created_at=now,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"the address {hint!r} is already an authorised originator") from exc

    async def remove(self, account_id: str, digest: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                delete(smtp_originators).where(
                    smtp_originators.c.account_id == account_id,
                    smtp_originators.c.address == digest,
                )
            )
        return bool(result.rowcount)

    async def get(self, digest: str) -> SmtpOriginator | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(smtp_originators).where(smtp_originators.c.address == digest)
                )
            ).first()
        return None if row is None else _originator(row)

    async def of_account(self, account_id: str) -> list[SmtpOriginator]:
        async with self._db.read() as conn:
            rows = (
                await conn.execute(
                    select(smtp_originators)
                    .where(smtp_originators.c.account_id == account_id)
                    .order_by(smtp_originators.c.hint, smtp_originators.c.created_at)
                )
            ).all()
        return [_originator(r) for r in rows]

    async def undigested(self) -> list[str]:
        """Addresses stored in clear (rows from before revision 0018)."""
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(smtp_originators.c.address).where(
                    smtp_originators.c.address.not_like(DIGEST + "%")
                )
            )
            return [r.address for r in rows]

    async def digest_stored(self, address: str, digest: str, hint: str) -> None:
        """Replace a row's clear address with its digest (only if it still holds it)."""
        async with self._db.write() as conn:
            await conn.execute(
                update(smtp_originators)
                .where(smtp_originators.c.address == address)
                .values(address=digest, hint=hint)
            )


def _originator(row: Any) -> SmtpOriginator:
    return SmtpOriginator(row.hint or "(hidden)", row.account_id, row.originator)
