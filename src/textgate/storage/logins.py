"""A name and password hash per account, the name unique across accounts: the usernames
of the HTTP logins (``login_credentials``) and the system_ids of the SMPP server's binds
(``smpp_logins``). Each table has ``account_id``, the name column, ``password_hash`` and
``updated_at``."""

from __future__ import annotations

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.exc import IntegrityError

from textgate.errors import Conflict, NotFound
from textgate.storage.db import Database
from textgate.storage.tables import accounts

__all__ = ["NamedLogins"]


class NamedLogins:
    def __init__(self, db: Database, table: Table, name: str) -> None:
        """``name``: the column that holds the login's name (also what errors call it)."""
        self._db = db
        self._table = table
        self._name = table.c[name]

    async def set_login(self, account_id: str, name: str, password_hash: str, now: int) -> None:
        """Set (or replace) the account's name and password."""
        t = self._table
        try:
            async with self._db.write() as conn:
                found = (
                    await conn.execute(select(accounts.c.id).where(accounts.c.id == account_id))
                ).first()
                if found is None:
                    raise NotFound("no such account")
                await conn.execute(delete(t).where(t.c.account_id == account_id))
                await conn.execute(
                    insert(t).values(
                        {
                            t.c.account_id: account_id,
                            self._name: name,
                            t.c.password_hash: password_hash,
                            t.c.updated_at: now,
                        }
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"the {self._name.name} {name!r} is taken") from exc

    async def login(self, name: str) -> tuple[str, str] | None:
        """(account id, password hash) of a name, or None."""
        t = self._table
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(t.c.account_id, t.c.password_hash).where(self._name == name)
                )
            ).first()
        return None if row is None else (str(row.account_id), str(row.password_hash))

    async def names(self, account_id: str) -> list[tuple[str, int]]:
        """The account's names, each with the time (ms) its password was set, oldest first."""
        t = self._table
        async with self._db.read() as conn:
            rows = (
                await conn.execute(
                    select(self._name, t.c.updated_at)
                    .where(t.c.account_id == account_id)
                    .order_by(t.c.updated_at, self._name)
                )
            ).all()
        return [(str(row[0]), int(row[1])) for row in rows]

    async def remove(self, account_id: str, name: str) -> bool:
        """Delete the account's login of this name; whether it had one."""
        t = self._table
        async with self._db.write() as conn:
            done = await conn.execute(
                delete(t).where(t.c.account_id == account_id, self._name == name)
            )
        return bool(done.rowcount)

    async def name_of(self, account_id: str) -> str | None:
        t = self._table
        async with self._db.read() as conn:
            found = await conn.scalar(select(self._name).where(t.c.account_id == account_id))
        return None if found is None else str(found)
