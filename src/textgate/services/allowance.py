"""What an account may still send: its balance and the one-part messages it affords today."""

from __future__ import annotations

from dataclasses import dataclass

from textgate.core.accounts import Account
from textgate.core.pricing import PriceTable
from textgate.services.accounts import AccountService

__all__ = ["Allowance", "AllowanceService"]


@dataclass(frozen=True, slots=True)
class Allowance:
    balance: int
    """Micro-credits (core.pricing)."""
    messages: int
    """One-part messages to the account's default country it may still send today: the
    lower of what its daily limit leaves and what its balance (and overdraft) pays for."""


class AllowanceService:
    def __init__(self, accounts: AccountService, prices: PriceTable) -> None:
        self._accounts = accounts
        self._prices = prices

    async def of(self, account: Account) -> Allowance:
        summary = await self._accounts.summary(account)
        rules = account.rules
        by_limit = max(0, rules.daily_limit - summary.used_today)
        price = rules.price_table(self._prices).price(rules.default_country)
        if price > 0:
            by_limit = min(by_limit, max(0, (summary.balance + rules.overdraft) // price))
        return Allowance(summary.balance, by_limit)
