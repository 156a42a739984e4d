"""The system_id and password hash each account binds to the SMPP server with."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from textgate.errors import Conflict, NotFound
from textgate.storage.db import Database
from textgate.storage.tables import accounts, smpp_logins

__all__ = ["SmppLoginRepo"]


class SmppLoginRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def set_login(
        self, account_id: str, system_id: str, password_hash: str, now: int
    ) -> None:
        """Set (or replace) the account's system_id and password."""
        try:
            async with self._db.write() as conn:
                found = (
                    await conn.execute(select(accounts.c.id).where(accounts.c.id == account_id))
                ).first()
                if found is None:
                    raise NotFound("no such account")
                await conn.execute(
                    delete(smpp_logins).where(smpp_logins.c.account_id == account_id)
                )
                await conn.execute(
                    insert(smpp_logins).values(
                        account_id=account_id,
                        system_id=system_id,
                        password_hash=password_hash,
                        updated_at=now,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"the system_id {system_id!r} is taken") from exc

    async def login(self, system_id: str) -> tuple[str, str] | None:
        """(account id, password hash) of a system_id, or None."""
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(smpp_logins.c.account_id, smpp_logins.c.password_hash).where(
                        smpp_logins.c.system_id == system_id
                    )
                )
            ).first()
        return None if row is None else (row.account_id, row.password_hash)

    async def system_id(self, account_id: str) -> str | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(smpp_logins.c.system_id).where(smpp_logins.c.account_id == account_id)
                )
            ).first()
        return None if row is None else str(row.system_id)
