"""Limits and balances under contention from two gateways, and refunds that happen once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.support import until
from textgate.config import PricingSettings, Settings
from textgate.core.accounts import Account
from textgate.core.clock import from_ms, system_clock
from textgate.core.message import DeliveryReport, Status
from textgate.core.policy import AccountRules
from textgate.core.pricing import parse_amount
from textgate.errors import GatewayError
from textgate.runtime import Gateway
from textgate.services.submit import SubmitRequest
from textgate.storage.queue import DispatchQueue, Failure

NUMBERS = [f"+3361234{i:04d}" for i in range(60)]


@pytest.fixture
async def two_gateways(settings: Settings) -> AsyncIterator[tuple[Gateway, Gateway]]:
    """Two independent gateways (own writer, own connections) on one database."""
    priced = settings.model_copy(update={"pricing": PricingSettings(default_price="0.05")})
    first, second = Gateway(priced), Gateway(priced)
    await first.start(dispatch=False, migrate=True)
    await second.start(dispatch=False, migrate=False)
    yield first, second
    await second.stop()
    await first.stop()


async def _race(gateways: tuple[Gateway, Gateway], account: Account) -> int:
    async def one(i: int) -> bool:
        gw = gateways[i % 2]
        fresh = await gw.services.accounts.get(account.id)
        try:
            result = await gw.services.submit.submit(
                SubmitRequest(
                    account=fresh, recipients=[NUMBERS[i]], text="race", client_ip="127.0.0.1"
                )
            )
        except GatewayError:
            return False
        return result.accepted == 1

    return sum(await asyncio.gather(*(one(i) for i in range(50))))


async def test_daily_limit_across_two_gateways(two_gateways: tuple[Gateway, Gateway]) -> None:
    accounts = two_gateways[0].services.accounts
    account = await accounts.create("limited", rules=AccountRules(daily_limit=20, price_default=0))
    assert await _race(two_gateways, account) == 20
    summary = await accounts.summary(await accounts.get(account.id))
    assert summary.used_today == 20


async def test_balance_across_two_gateways(two_gateways: tuple[Gateway, Gateway]) -> None:
    accounts = two_gateways[0].services.accounts
    account = await accounts.create("prepaid")
    await accounts.credit(account.id, parse_amount("1"))  # 20 messages at 0.05
    assert await _race(two_gateways, account) == 20
    summary = await accounts.summary(await accounts.get(account.id))
    assert summary.balance == 0


async def test_a_failure_is_refunded_once(two_gateways: tuple[Gateway, Gateway]) -> None:
    gw = two_gateways[0]
    accounts = gw.services.accounts
    account = await accounts.create("refunds")
    await accounts.credit(account.id, parse_amount("1"))
    result = await gw.services.submit.submit(
        SubmitRequest(account=account, recipients=[NUMBERS[0]], text="x", client_ip="::1")
    )
    queue = DispatchQueue(gw.db, "w")
    now = system_clock()
    [claim] = await queue.claim(now=now, lease_ms=60_000, limit=10)
    failure = Failure(claim, "refused", "destination refused", "sim")
    await queue.record(now=now, failures=[failure])
    await queue.record(now=now + 1, failures=[failure])  # the same failure reported again
    report = DeliveryReport("sim", "none", Status.FAILED, from_ms(now))
    await queue.apply_reports([report, report], now + 2)
    kinds = [line.kind for line in await accounts.ledger(account.id)]
    assert sorted(kinds) == ["charge", "credit", "refund"]
    summary = await accounts.summary(await accounts.get(account.id))
    assert summary.balance == parse_amount("1")
    msg = await gw.services.messages.get(account.id, result.messages[0].id)
    assert msg.status == Status.FAILED


async def test_failed_sends_are_refunded_end_to_end(settings: Settings) -> None:
    refusing = settings.model_copy(
        update={
            "pricing": PricingSettings(default_price="0.05"),
            "connectors": [
                settings.connectors[0].model_copy(update={"options": {"accept_rate": 0.0}})
            ],
        }
    )
    gw = Gateway(refusing)
    await gw.start(dispatch=True, migrate=True)
    try:
        accounts = gw.services.accounts
        account = await accounts.create("refused")
        await accounts.credit(account.id, parse_amount("1"))
        result = await gw.services.submit.submit(
            SubmitRequest(account=account, recipients=NUMBERS[:3], text="x", client_ip="::1")
        )

        async def all_failed() -> bool:
            msgs = [await gw.services.messages.get(account.id, m.id) for m in result.messages]
            return all(m.status == Status.FAILED for m in msgs)

        async def all_refunded() -> bool:
            lines = await accounts.ledger(account.id)
            return sum(1 for line in lines if line.kind == "refund") == 3

        await until(all_failed, "every message to fail")
        await until(all_refunded, "three refunds")
        lines = await accounts.ledger(account.id)
        summary = await accounts.summary(await accounts.get(account.id))
    finally:
        await gw.stop()
    assert [line.kind for line in lines].count("refund") == 3
    assert summary.balance == parse_amount("1")
