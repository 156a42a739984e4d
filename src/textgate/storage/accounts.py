"""Accounts and API keys."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from textgate.core.accounts import Account, ApiKey, NewApiKey
from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.ids import new_id
from textgate.core.policy import AccountRules
from textgate.errors import Conflict, NotFound
from textgate.storage.db import Database
from textgate.storage.tables import account_balances, accounts, api_keys

__all__ = ["AccountRepo"]


def _account(row: Any) -> Account:
    rules = AccountRules.from_dict(json.loads(row.rules)) if row.rules else AccountRules()
    if rules.default_country is None and row.default_country:
        rules = replace(rules, default_country=row.default_country)
    return Account(id=row.id, name=row.name, created_at=from_ms(row.created_at), rules=rules)


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        account_id=row.account_id,
        created_at=from_ms(row.created_at),
        revoked_at=None if row.revoked_at is None else from_ms(row.revoked_at),
        label=row.label,
    )


def _rules_json(rules: AccountRules) -> str | None:
    values = rules.to_dict()
    return json.dumps(values, sort_keys=True) if values else None


class AccountRepo:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    async def create(self, name: str, *, rules: AccountRules | None = None) -> Account:
        now = self._clock()
        account_id = new_id(now)
        rules = rules or AccountRules()
        try:
            async with self._db.write() as conn:
                await conn.execute(
                    insert(accounts).values(
                        id=account_id,
                        name=name,
                        created_at=now,
                        default_country=rules.default_country,
                        rules=_rules_json(rules),
                    )
                )
                await conn.execute(
                    insert(account_balances).values(
                        account_id=account_id, balance=0, updated_at=now
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"an account named {name!r} already exists") from exc
        return Account(id=account_id, name=name, created_at=from_ms(now), rules=rules)

    async def set_rules(self, account_id: str, rules: AccountRules) -> None:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(rules=_rules_json(rules), default_country=rules.default_country)
            )
        if result.rowcount == 0:
            raise NotFound("no such account")

    async def get(self, account_id: str) -> Account:
        async with self._db.read() as conn:
            row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
        if row is None:
            raise NotFound("no such account")
        return _account(row)

    async def by_name(self, name: str) -> Account:
        async with self._db.read() as conn:
            row = (await conn.execute(select(accounts).where(accounts.c.name == name))).first()
        if row is None:
            raise NotFound(f"no account named {name!r}")
        return _account(row)

    async def add_key(
        self,
        account_id: str,
        key: NewApiKey,
        *,
        label: str | None = None,
        replace_label: bool = False,
    ) -> ApiKey:
        """Store a key; with ``replace_label`` the account's live keys of that label are revoked."""
        now = self._clock()
        async with self._db.write() as conn:
            if replace_label and label is not None:
                await conn.execute(
                    update(api_keys)
                    .where(
                        api_keys.c.account_id == account_id,
                        api_keys.c.label == label,
                        api_keys.c.revoked_at.is_(None),
                    )
                    .values(revoked_at=now)
                )
            await conn.execute(
                insert(api_keys).values(
                    id=key.id,
                    account_id=account_id,
                    secret_hash=key.secret_hash,
                    label=label,
                    created_at=now,
                )
            )
        return ApiKey(id=key.id, account_id=account_id, created_at=from_ms(now), label=label)

    async def key_hash(self, key_id: str) -> tuple[str, str] | None:
        """(account id, secret hash) of a live key, or None if unknown or revoked."""
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(api_keys.c.account_id, api_keys.c.secret_hash).where(
                        api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)
                    )
                )
            ).first()
        return None if row is None else (row.account_id, row.secret_hash)

    async def list_keys(self, account_id: str) -> list[ApiKey]:
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(api_keys).where(api_keys.c.account_id == account_id).order_by(api_keys.c.id)
            )
            return [_key(r) for r in rows]

    async def all_with_balances(self) -> list[tuple[Account, int]]:
        """Every account, by name, with its balance (micro-credits)."""
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(accounts, account_balances.c.balance)
                .outerjoin(account_balances, account_balances.c.account_id == accounts.c.id)
                .order_by(accounts.c.name)
            )
            return [(_account(r), int(r.balance or 0)) for r in rows]

    async def all_keys(self) -> list[ApiKey]:
        """Every API key of every account (revoked ones too), oldest first per account."""
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(api_keys).order_by(api_keys.c.account_id, api_keys.c.created_at)
            )
            return [_key(r) for r in rows]

    async def keys_starting(self, prefix: str, limit: int = 10) -> list[ApiKey]:
        """Keys whose id starts with ``prefix`` (revoked ones too), at most ``limit``."""
        # Key ids are hex: a prefix holding LIKE's wildcards matches nothing.
        if not prefix or any(c in prefix for c in "%_\\"):
            return []
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(api_keys)
                .where(api_keys.c.id.like(f"{prefix}%"))
                .order_by(api_keys.c.id)
                .limit(limit)
            )
            return [_key(r) for r in rows]

    async def revoke_key(self, account_id: str, key_id: str) -> None:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(api_keys)
                .where(
                    api_keys.c.id == key_id,
                    api_keys.c.account_id == account_id,
                    api_keys.c.revoked_at.is_(None),
                )
                .values(revoked_at=self._clock())
            )
        if result.rowcount == 0:
            raise NotFound("no such live key")
