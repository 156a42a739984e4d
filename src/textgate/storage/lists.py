"""Consoles (an account's MailUp number), lists, their opt-outs, and stored templates."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.lists import Console, ConsoleStatus, MailingList, Template, TemplateKind
from textgate.errors import Conflict, NotFound
from textgate.storage.db import Database
from textgate.storage.secrets import SecretBox
from textgate.storage.tables import (
    accounts,
    mailup_consoles,
    mailup_list_opt_outs,
    mailup_lists,
    mailup_templates,
)

__all__ = ["ListRepo"]

# Console numbers handed out start here (MailUp's own are five digits, e.g. 59484).
FIRST_CONSOLE = 10001


def _list(r: Any, box: SecretBox) -> MailingList:
    return MailingList(
        account_id=r.account_id,
        list_id=r.list_id,
        guid=r.guid,
        name=r.name,
        secret=box.open_optional(r.secret),
        default_prefix=r.default_prefix,
        sms_sender=r.sms_sender,
        created_at=from_ms(r.created_at),
    )


def _template(r: Any) -> Template:
    return Template(
        account_id=r.account_id,
        template_id=r.template_id,
        kind=TemplateKind(r.kind),
        name=r.name,
        subject=r.subject,
        text=r.text,
        html=r.html,
        created_at=from_ms(r.created_at),
    )


class ListRepo:
    """``box`` seals ListSecrets: the API shows them back, so they cannot be hashed."""

    def __init__(self, db: Database, box: SecretBox, clock: Clock = system_clock) -> None:
        self._db = db
        self._box = box
        self._clock = clock

    # -- consoles ------------------------------------------------------------------------

    async def console_of(self, account_id: str) -> Console | None:
        return await self._console_where(mailup_consoles.c.account_id == account_id)

    async def console(self, console_id: int) -> Console | None:
        return await self._console_where(mailup_consoles.c.console_id == console_id)

    async def _console_where(self, condition: Any) -> Console | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(mailup_consoles).where(condition))).first()
        return (
            None
            if row is None
            else Console(row.account_id, row.console_id, ConsoleStatus(row.status))
        )

    async def ensure_console(self, account_id: str, console_id: int | None = None) -> Console:
        """The account's console, made with ``console_id`` (or the next free number)."""
        found = await self.console_of(account_id)
        if found is not None:
            return found
        try:
            async with self._db.write() as conn:
                exists = (
                    await conn.execute(select(accounts.c.id).where(accounts.c.id == account_id))
                ).first()
                if exists is None:
                    raise NotFound("no such account")
                if console_id is None:
                    top = (
                        await conn.execute(select(func.max(mailup_consoles.c.console_id)))
                    ).scalar()
                    console_id = max(FIRST_CONSOLE, int(top or 0) + 1)
                await conn.execute(
                    insert(mailup_consoles).values(
                        account_id=account_id,
                        console_id=console_id,
                        status=ConsoleStatus.ACTIVE.value,
                        created_at=self._clock(),
                    )
                )
        except (IntegrityError, Conflict) as exc:
            raise Conflict(f"console number {console_id} is taken") from exc
        return Console(account_id, console_id, ConsoleStatus.ACTIVE)

    async def set_console_status(self, account_id: str, status: ConsoleStatus) -> None:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(mailup_consoles)
                .where(mailup_consoles.c.account_id == account_id)
                .values(status=status.value)
            )
        if result.rowcount == 0:
            raise NotFound("the account has no MailUp console")

    # -- lists ---------------------------------------------------------------------------

    async def create_list(
        self,
        account_id: str,
        name: str,
        *,
        default_prefix: str | None,
        sms_sender: str | None,
        guid: str | None = None,
    ) -> MailingList:
        now = self._clock()
        guid = guid or str(uuid.uuid4())
        try:
            list_id = await self._insert_list(
                account_id, name, guid, default_prefix, sms_sender, now
            )
        except IntegrityError as exc:
            raise Conflict(f"a list with GUID {guid} exists") from exc
        return await self.get_list(account_id, list_id)

    async def _insert_list(
        self,
        account_id: str,
        name: str,
        guid: str,
        default_prefix: str | None,
        sms_sender: str | None,
        now: int,
    ) -> int:
        async with self._db.write() as conn:
            list_id = await _next_number(conn, mailup_lists.c.list_id, account_id)
            await conn.execute(
                insert(mailup_lists).values(
                    account_id=account_id,
                    list_id=list_id,
                    guid=guid,
                    name=name,
                    default_prefix=default_prefix,
                    sms_sender=sms_sender,
                    created_at=now,
                )
            )
        return list_id

    async def find_list(self, account_id: str, list_id: int) -> MailingList | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(mailup_lists).where(
                        mailup_lists.c.account_id == account_id, mailup_lists.c.list_id == list_id
                    )
                )
            ).first()
        return None if row is None else _list(row, self._box)

    async def get_list(self, account_id: str, list_id: int) -> MailingList:
        found = await self.find_list(account_id, list_id)
        if found is None:
            raise NotFound(f"no list {list_id}")
        return found

    async def lists(self, account_id: str) -> list[MailingList]:
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(mailup_lists)
                .where(mailup_lists.c.account_id == account_id)
                .order_by(mailup_lists.c.list_id)
            )
            return [_list(r, self._box) for r in rows]

    async def update_list(self, account_id: str, list_id: int, **values: Any) -> MailingList:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(mailup_lists)
                .where(mailup_lists.c.account_id == account_id, mailup_lists.c.list_id == list_id)
                .values(**values)
            )
        if result.rowcount == 0:
            raise NotFound(f"no list {list_id}")
        return await self.get_list(account_id, list_id)

    async def set_secret(
        self, account_id: str, list_id: int, secret: str | None, *, replace: bool = False
    ) -> str | None:
        """Set (or with None clear) the list's secret; unless ``replace``, a new secret is
        only set where none is, so two concurrent creations agree. The secret the list has
        afterwards."""
        where = [mailup_lists.c.account_id == account_id, mailup_lists.c.list_id == list_id]
        if secret is not None and not replace:
            where.append(mailup_lists.c.secret.is_(None))
        async with self._db.write() as conn:
            sealed = None if secret is None else self._box.seal(secret)
            await conn.execute(update(mailup_lists).where(and_(*where)).values(secret=sealed))
        return (await self.get_list(account_id, list_id)).secret

    # -- opt-outs ------------------------------------------------------------------------

    async def add_opt_outs(self, account_id: str, list_id: int, numbers: Sequence[str]) -> None:
        now = self._clock()
        async with self._db.write() as conn:
            for number in dict.fromkeys(numbers):
                found = (
                    await conn.execute(
                        select(mailup_list_opt_outs.c.number).where(
                            mailup_list_opt_outs.c.account_id == account_id,
                            mailup_list_opt_outs.c.list_id == list_id,
                            mailup_list_opt_outs.c.number == number,
                        )
                    )
                ).first()
                if found is None:
                    await conn.execute(
                        insert(mailup_list_opt_outs).values(
                            account_id=account_id, list_id=list_id, number=number, created_at=now
                        )
                    )

    async def remove_opt_outs(self, account_id: str, list_id: int, numbers: Sequence[str]) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                delete(mailup_list_opt_outs).where(
                    mailup_list_opt_outs.c.account_id == account_id,
                    mailup_list_opt_outs.c.list_id == list_id,
                    mailup_list_opt_outs.c.number.in_(list(numbers)),
                )
            )

    async def opt_outs(self, account_id: str, list_id: int) -> list[str]:
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(mailup_list_opt_outs.c.number)
                .where(
                    mailup_list_opt_outs.c.account_id == account_id,
                    mailup_list_opt_outs.c.list_id == list_id,
                )
                .order_by(mailup_list_opt_outs.c.number)
            )
            return [r.number for r in rows]

    async def opted_out(self, account_id: str, list_id: int, number: str) -> bool:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(mailup_list_opt_outs.c.number).where(
                        mailup_list_opt_outs.c.account_id == account_id,
                        mailup_list_opt_outs.c.list_id == list_id,
                        mailup_list_opt_outs.c.number == number,
                    )
                )
            ).first()
        return row is not None

    # -- templates -----------------------------------------------------------------------

    async def add_template(
        self,
        account_id: str,
        kind: TemplateKind,
        name: str,
        *,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        template_id: int | None = None,
    ) -> Template:
        """A new template under ``template_id`` (Conflict if the account has one), else
        under the account's next number."""
        try:
            async with self._db.write() as conn:
                if template_id is None:
                    template_id = await _next_number(
                        conn, mailup_templates.c.template_id, account_id
                    )
                await conn.execute(
                    insert(mailup_templates).values(
                        account_id=account_id,
                        template_id=template_id,
                        kind=kind.value,
                        name=name,
                        subject=subject,
                        text=text,
                        html=html,
                        created_at=self._clock(),
                    )
                )
        except (IntegrityError, Conflict) as exc:
            raise Conflict(f"template {template_id} exists") from exc
        found = await self.template(account_id, template_id)
        assert found is not None
        return found

    async def template(self, account_id: str, template_id: int) -> Template | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(mailup_templates).where(
                        mailup_templates.c.account_id == account_id,
                        mailup_templates.c.template_id == template_id,
                    )
                )
            ).first()
        return None if row is None else _template(row)

    async def templates(self, account_id: str) -> list[Template]:
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(mailup_templates)
                .where(mailup_templates.c.account_id == account_id)
                .order_by(mailup_templates.c.template_id)
            )
            return [_template(r) for r in rows]

    async def remove_template(self, account_id: str, template_id: int) -> None:
        async with self._db.write() as conn:
            result = await conn.execute(
                delete(mailup_templates).where(
                    mailup_templates.c.account_id == account_id,
                    mailup_templates.c.template_id == template_id,
                )
            )
        if result.rowcount == 0:
            raise NotFound(f"no template {template_id}")


async def _next_number(conn: Any, column: Any, account_id: str) -> int:
    """The account's next number in ``column`` (lists and templates are numbered per
    account, from 1, as MailUp numbers them)."""
    top = (
        await conn.execute(select(func.max(column)).where(column.table.c.account_id == account_id))
    ).scalar()
    return int(top or 0) + 1
