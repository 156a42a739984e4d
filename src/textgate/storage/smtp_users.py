"""SMTP+ users: the credentials transactional email is sent with (seed 002)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update

from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.lists import SmtpUser
from textgate.errors import NotFound
from textgate.storage.db import Database
from textgate.storage.tables import mailup_smtp_users

__all__ = ["SmtpUserRepo"]


def _user(r: Any) -> SmtpUser:
    return SmtpUser(
        username=r.username,
        account_id=r.account_id,
        list_id=r.list_id,
        enabled=bool(r.enabled),
        admin_block=bool(r.admin_block),
        block_until=None if r.block_until is None else from_ms(r.block_until),
        deleted_at=None if r.deleted_at is None else from_ms(r.deleted_at),
        priority=r.priority,
        note=r.note or "",
        domain_list=r.domain_list or "",
        sender_list=r.sender_list or "",
        campaign=r.campaign,
        created_at=from_ms(r.created_at),
        updated_at=from_ms(r.updated_at),
    )


class SmtpUserRepo:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    async def create(
        self, account_id: str, list_id: int, console_id: int, secret_hash: str, **values: Any
    ) -> SmtpUser:
        """A new user named ``s<console>_<n>``, n counting the console's users from 1."""
        now = self._clock()
        prefix = f"s{console_id}_"
        async with self._db.write() as conn:
            taken = (
                await conn.execute(
                    select(func.count()).where(mailup_smtp_users.c.account_id == account_id)
                )
            ).scalar()
            username = f"{prefix}{int(taken or 0) + 1}"
            await conn.execute(
                insert(mailup_smtp_users).values(
                    username=username,
                    account_id=account_id,
                    list_id=list_id,
                    secret_hash=secret_hash,
                    created_at=now,
                    updated_at=now,
                    **values,
                )
            )
        found = await self.get(username)
        assert found is not None
        return found

    async def get(self, username: str) -> SmtpUser | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(mailup_smtp_users).where(mailup_smtp_users.c.username == username)
                )
            ).first()
        return None if row is None else _user(row)

    async def secret_hash(self, username: str) -> str | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(mailup_smtp_users.c.secret_hash).where(
                        mailup_smtp_users.c.username == username
                    )
                )
            ).first()
        return None if row is None else str(row.secret_hash)

    async def of_list(self, account_id: str, list_id: int) -> list[SmtpUser]:
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(mailup_smtp_users)
                .where(
                    mailup_smtp_users.c.account_id == account_id,
                    mailup_smtp_users.c.list_id == list_id,
                )
                .order_by(mailup_smtp_users.c.created_at, mailup_smtp_users.c.username)
            )
            return [_user(r) for r in rows]

    async def update(self, username: str, **values: Any) -> SmtpUser:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(mailup_smtp_users)
                .where(mailup_smtp_users.c.username == username)
                .values(updated_at=self._clock(), **values)
            )
        if result.rowcount == 0:
            raise NotFound(f"no SMTP+ user {username}")
        found = await self.get(username)
        assert found is not None
        return found
