"""Accounts: creation, API-key authentication, rules, credit, opt-outs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from textgate.core.accounts import (
    KEY_PREFIX,
    Account,
    ApiKey,
    generate_api_key,
    parse_api_key,
    secret_matches,
)
from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.numbers import normalize_number
from textgate.core.policy import AccountRules, local_day
from textgate.core.pricing import MAX_AMOUNT
from textgate.errors import AuthenticationFailed, Conflict, InvalidRequest, NotFound
from textgate.storage.accounts import AccountRepo
from textgate.storage.credits import CreditRepo, LedgerLine

__all__ = ["AccountListing", "AccountService", "AccountSummary", "IssuedKey"]

# Fewer characters of a key id than this would too easily name a key by mistake.
MIN_KEY_PREFIX = 4


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    token: str
    """The only copy of the secret; show it once."""


@dataclass(frozen=True, slots=True)
class AccountListing:
    account: Account
    balance: int
    keys: tuple[ApiKey, ...]
    """Every key of the account, revoked ones too, oldest first."""


@dataclass(frozen=True, slots=True)
class AccountSummary:
    account: Account
    balance: int
    day: str
    used_today: int


class AccountService:
    def __init__(
        self,
        repo: AccountRepo,
        credits: CreditRepo,
        *,
        cache_seconds: float = 5.0,
        clock: Clock = system_clock,
        default_timezone: str = "UTC",
    ) -> None:
        self._repo = repo
        # Rules of a new account made without any (settings.default_timezone).
        self._new_rules = AccountRules.from_dict({"timezone": default_timezone})
        self._credits = credits
        self._clock = clock
        self._cache_seconds = cache_seconds
        # token -> (account, expiry): a verified token skips the database for a few
        # seconds, which bounds how long a revoked key or an old rule keeps applying.
        self._cache: dict[str, tuple[Account, float]] = {}
        # Lookups under way, shared by concurrent requests with the same key: when a cached
        # verdict expires under load, every connection would otherwise query at once.
        self._inflight: dict[str, asyncio.Task[Account]] = {}

    @property
    def new_rules(self) -> AccountRules:
        """The rules of a new account before any change (``settings.default_timezone``)."""
        return self._new_rules

    async def create(
        self, name: str, *, default_country: str | None = None, rules: AccountRules | None = None
    ) -> Account:
        rules = rules or self._new_rules
        if default_country is not None:
            rules = AccountRules.from_dict({**rules.to_dict(), "default_country": default_country})
        return await self._repo.create(name, rules=rules)

    async def issue_key(
        self, account_id: str, *, label: str | None = None, replace_label: bool = False
    ) -> IssuedKey:
        new = generate_api_key()
        key = await self._repo.add_key(account_id, new, label=label, replace_label=replace_label)
        if replace_label:
            self._cache.clear()
        return IssuedKey(key, new.token)

    async def ensure_demo(self, name: str = "demo") -> tuple[Account, IssuedKey]:
        """The demo account (made on first start) with a fresh key replacing the last one."""
        try:
            account = await self._repo.by_name(name)
        except NotFound:
            try:
                account = await self._repo.create(name, rules=self._new_rules)
            except Conflict:  # another process made it a moment ago
                account = await self._repo.by_name(name)
        key = await self.issue_key(account.id, label="demo", replace_label=True)
        return account, key

    async def get(self, account_id: str) -> Account:
        return await self._repo.get(account_id)

    async def by_name(self, name: str) -> Account:
        return await self._repo.by_name(name)

    async def revoke_key(self, account_id: str, key_id: str) -> None:
        await self._repo.revoke_key(account_id, key_id)
        self._cache.clear()

    async def revoke_key_ref(self, ref: str, *, account_id: str | None = None) -> ApiKey:
        """Revoke the live key a reference names: its id, a unique prefix of it (at least
        ``MIN_KEY_PREFIX`` characters), or the token itself (``tg_<id>`` or whole); with
        ``account_id``, only a key of that account. The revoked key."""
        parsed = parse_api_key(ref)
        key_id = parsed[0] if parsed is not None else ref.strip().removeprefix(f"{KEY_PREFIX}_")
        if len(key_id) < MIN_KEY_PREFIX:
            raise InvalidRequest(f"give at least {MIN_KEY_PREFIX} characters of the key id")
        found = [
            k
            for k in await self._repo.keys_starting(key_id)
            if account_id is None or k.account_id == account_id
        ]
        exact = [k for k in found if k.id == key_id]
        if exact:
            found = exact
        if not found:
            raise NotFound(f"no API key {key_id!r}")
        live = [k for k in found if k.revoked_at is None]
        if not live:
            raise Conflict(f"the API key {found[0].id} is already revoked")
        if len(live) > 1:
            listed = ", ".join(k.id for k in live)
            raise InvalidRequest(f"{key_id!r} names several keys ({listed}); give more of it")
        key = live[0]
        await self.revoke_key(key.account_id, key.id)
        revoked = [k for k in await self._repo.list_keys(key.account_id) if k.id == key.id]
        return revoked[0] if revoked else key

    async def listing(self) -> list[AccountListing]:
        """Every account, by name, with its balance and keys."""
        keys: dict[str, list[ApiKey]] = {}
        for key in await self._repo.all_keys():
            keys.setdefault(key.account_id, []).append(key)
        return [
            AccountListing(account, balance, tuple(keys.get(account.id, ())))
            for account, balance in await self._repo.all_with_balances()
        ]

    async def authenticate(self, token: str) -> Account:
        cached = self._cache.get(token)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        lookup = self._inflight.get(token)
        if lookup is None:
            # Its own task: a requester that goes away does not cancel it for the others.
            lookup = asyncio.ensure_future(self._authenticate(token, now))
            self._inflight[token] = lookup
            lookup.add_done_callback(lambda _: self._inflight.pop(token, None))
        return await asyncio.shield(lookup)

    async def _authenticate(self, token: str, now: float) -> Account:
        parsed = parse_api_key(token)
        if parsed is None:
            raise AuthenticationFailed("invalid API key")
        key_id, secret = parsed
        found = await self._repo.key_hash(key_id)
        if found is None or not secret_matches(secret, found[1]):
            raise AuthenticationFailed("invalid API key")
        try:
            account = await self._repo.get(found[0])
        except NotFound as exc:
            raise AuthenticationFailed("invalid API key") from exc
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (account, now + self._cache_seconds)
        return account

    async def update_settings(self, account_id: str, changes: Mapping[str, Any]) -> Account:
        """Change some settings, given as the API and CLI write them (amounts in credits);
        the others keep their values, and None puts one back to its default."""
        account = await self._repo.get(account_id)
        return await self._store_rules(account_id, AccountRules.from_public(changes, account.rules))

    async def update_rules(self, account_id: str, changes: Mapping[str, Any]) -> Account:
        """As :meth:`update_settings`, with amounts in micro-credits (stored form)."""
        account = await self._repo.get(account_id)
        return await self._store_rules(account_id, account.rules.changed(changes))

    async def _store_rules(self, account_id: str, rules: AccountRules) -> Account:
        await self._repo.set_rules(account_id, rules)
        self._cache.clear()
        return await self._repo.get(account_id)

    async def summary(self, account: Account) -> AccountSummary:
        day = local_day(account.rules, from_ms(self._clock()))
        return AccountSummary(
            account=account,
            balance=await self._credits.balance(account.id),
            day=day,
            used_today=await self._credits.usage(account.id, day),
        )

    async def credit(self, account_id: str, amount: int, note: str | None = None) -> int:
        if amount == 0:
            raise InvalidRequest("a credit of zero changes nothing")
        if abs(amount) > MAX_AMOUNT:
            raise InvalidRequest("amount too large")
        balance = await self._credits.balance(account_id)
        if abs(balance + amount) > MAX_AMOUNT:
            raise InvalidRequest("the balance would leave the representable range")
        return await self._credits.credit(account_id, amount, note=note)

    async def ledger(self, account_id: str, limit: int = 100) -> list[LedgerLine]:
        return await self._credits.ledger(account_id, limit=limit)

    async def add_opt_outs(
        self, account: Account, numbers: Sequence[str], source: str = "api"
    ) -> list[str]:
        normalized = [normalize_number(n, account.default_country) for n in numbers]
        await self._credits.add_opt_outs(account.id, normalized, source)
        return normalized

    async def remove_opt_outs(self, account: Account, numbers: Sequence[str]) -> list[str]:
        normalized = [normalize_number(n, account.default_country) for n in numbers]
        await self._credits.remove_opt_outs(account.id, normalized)
        return normalized

    async def opt_outs(self, account_id: str) -> list[tuple[str, str, int]]:
        return await self._credits.opt_outs(account_id)
