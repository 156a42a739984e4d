"""Account rules and credits, driven through the native API over the real server.

Each test sets the account's rules through the service, sends through HTTP, and checks the
answer and what was stored: rejected rows with their reasons, ledger lines, balances.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support import Running, ShiftedClock, running_gateway
from textgate.config import PricingSettings, Settings
from textgate.core.accounts import Account
from textgate.core.message import Status
from textgate.core.pricing import parse_amount
from textgate.services.query import MessageFilter

FR, FR2, GB, US = "+33612345678", "+33698765432", "+447400123456", "+12015550123"


@pytest.fixture
async def priced(settings: Settings) -> AsyncIterator[Running]:
    """A gateway where every SMS part costs 0.05 credits."""
    priced_settings = settings.model_copy(update={"pricing": PricingSettings(default_price="0.05")})
    async with running_gateway(priced_settings) as running:
        yield running


class Client:
    def __init__(self, running: Running, account: Account, token: str) -> None:
        self.running = running
        self.account = account
        self.headers = {"Authorization": f"Bearer {token}"}

    async def rules(self, **changes: Any) -> None:
        accounts = self.running.gateway.services.accounts
        self.account = await accounts.update_settings(self.account.id, changes)

    async def send(self, to: str | list[str], text: str = "hello", **extra: Any) -> Any:
        return await self.running.client.post(
            "/v1/messages", json={"to": to, "text": text, **extra}, headers=self.headers
        )

    async def stored(self) -> list[tuple[str, str, str | None]]:
        msgs = await self.running.gateway.services.messages.search(
            self.account.id, MessageFilter(), limit=1000
        )
        return sorted((m.recipient, m.status.value, m.error_code) for m in msgs)

    async def credit(self, amount: str) -> None:
        await self.running.gateway.services.accounts.credit(self.account.id, parse_amount(amount))

    async def ledger(self) -> list[tuple[str, str]]:
        lines = await self.running.gateway.services.accounts.ledger(self.account.id)
        from textgate.core.pricing import format_amount

        return [(line.kind, format_amount(line.amount)) for line in reversed(lines)]

    async def account_view(self) -> Any:
        return (await self.running.client.get("/v1/account", headers=self.headers)).json()


async def _client(running: Running, name: str = "acme") -> Client:
    accounts = running.gateway.services.accounts
    account = await accounts.create(name)
    token = (await accounts.issue_key(account.id)).token
    return Client(running, account, token)


@pytest.fixture
async def client(gateway: Running) -> Client:
    return await _client(gateway)


@pytest.fixture
async def paying(priced: Running) -> Client:
    return await _client(priced)


async def test_ip_allowlist_refuses_other_addresses_before_storing(client: Client) -> None:
    await client.rules(allowed_ips=["10.0.0.0/8", "192.168.1.7"])
    r = await client.send(FR)
    assert r.status_code == 403 and r.json()["error"]["code"] == "ip_not_allowed"
    assert await client.stored() == []
    await client.rules(allowed_ips=["10.0.0.0/8", "127.0.0.0/8"])
    assert (await client.send(FR)).status_code == 202


async def test_default_and_allowed_senders(client: Client) -> None:
    await client.rules(default_sender="ACME", allowed_senders=["ACME", "Shop"])
    r = await client.send(FR)
    assert r.json()["messages"][0]["sender"] == "ACME"
    assert (await client.send(FR, **{"from": "Shop"})).status_code == 202
    refused = await client.send(FR, **{"from": "Other"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "invalid_sender"
    assert len(await client.stored()) == 2


async def test_batch_limit(client: Client) -> None:
    await client.rules(batch_limit=2)
    r = await client.send([FR, FR2, GB])
    assert r.status_code == 403 and r.json()["error"]["code"] == "batch_too_large"
    assert await client.stored() == []
    assert (await client.send([FR, FR2])).status_code == 202


async def test_daily_limit_refuses_the_rest_and_stores_them_rejected(client: Client) -> None:
    await client.rules(daily_limit=3)
    assert (await client.send(FR)).status_code == 202
    r = await client.send([FR2, GB, US])
    body = r.json()
    assert r.status_code == 202 and (body["accepted"], body["rejected"]) == (2, 1)
    refused = await client.send(FR)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "daily_limit"
    stored = await client.stored()
    assert len(stored) == 4  # the refused single request stored nothing
    assert [s for s in stored if s[1] == "rejected"] == [(US, "rejected", "daily_limit")]
    view = await client.account_view()
    assert view["usage_today"]["count"] == 3 and view["usage_today"]["remaining"] == 0


async def test_country_filters(client: Client) -> None:
    await client.rules(countries_blocked=["US"])
    r = await client.send([FR, US])
    assert r.json()["rejected"] == 1
    only_us = await client.send(US)
    assert only_us.status_code == 403 and only_us.json()["error"]["code"] == "country_blocked"
    await client.rules(countries_blocked=[], countries_allowed=["FR"])
    assert (await client.send([FR2, GB])).json()["rejected"] == 1
    rejected = sorted(s for s in await client.stored() if s[1] == "rejected")
    assert rejected == [(US, "rejected", "country_blocked"), (GB, "rejected", "country_blocked")]


async def test_duplicate_filter(settings: Settings) -> None:
    clock = ShiftedClock()
    async with running_gateway(settings, clock=clock) as running:
        client = await _client(running)
        assert (await client.send(FR, "same")).status_code == 202
        assert (await client.send(FR, "same")).status_code == 202  # off by default
        await client.rules(dedupe=True)
        dup = await client.send(FR, "same")
        assert dup.status_code == 403 and dup.json()["error"]["code"] == "duplicate"
        assert (await client.send(FR, "different")).status_code == 202
        # A number given twice in one request is one recipient (services.submit).
        both = (await client.send([FR2, "+33 6 98 76 54 32"], "twice in one request")).json()
        assert (both["accepted"], both["rejected"]) == (1, 0)
        await client.rules(dedupe_window_seconds=1)
        clock.advance(1.1)
        assert (await client.send(FR, "same")).status_code == 202


async def test_opt_outs_through_the_api(client: Client) -> None:
    r = await client.running.client.post(
        "/v1/opt-outs", json={"numbers": ["+33 6 12 34 56 78"]}, headers=client.headers
    )
    assert r.status_code == 201 and [o["number"] for o in r.json()["data"]] == [FR]
    refused = await client.send(FR)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "opted_out"
    mixed = (await client.send([FR, FR2])).json()
    assert (mixed["accepted"], mixed["rejected"]) == (1, 1)
    assert (FR, "rejected", "opted_out") in await client.stored()
    await client.running.client.delete(f"/v1/opt-outs/{FR}", headers=client.headers)
    assert (await client.send(FR)).status_code == 202


async def test_default_country_for_national_numbers(client: Client) -> None:
    assert (await client.send("06 12 34 56 78")).status_code == 400
    await client.rules(default_country="FR")
    r = await client.send("06 12 34 56 78")
    assert r.status_code == 202 and r.json()["messages"][0]["to"] == FR


async def test_credit_is_charged_per_part_and_cannot_go_below_zero(paying: Client) -> None:
    await paying.credit("0.2")
    one = await paying.send(FR)
    assert one.status_code == 202
    two_parts = await paying.send(FR2, "x" * 161)
    assert two_parts.status_code == 202
    broke = await paying.send(GB)  # 0.05 left, another 0.05 fits
    assert broke.status_code == 202
    empty = await paying.send(GB, "again")
    assert empty.status_code == 402 and empty.json()["error"]["code"] == "insufficient_credit"
    assert await paying.ledger() == [
        ("credit", "0.2"),
        ("charge", "-0.05"),
        ("charge", "-0.1"),
        ("charge", "-0.05"),
    ]
    assert (await paying.account_view())["balance"] == "0"
    await paying.rules(overdraft="0.1")
    assert (await paying.send(US, "on credit")).status_code == 202
    assert (await paying.account_view())["balance"] == "-0.05"


async def test_country_prices(paying: Client) -> None:
    await paying.credit("1")
    await paying.rules(prices={"GB": "0.2"})
    await paying.send([FR, GB])
    assert await paying.ledger() == [("credit", "1"), ("charge", "-0.25")]


async def test_cancelled_scheduled_message_is_refunded(paying: Client) -> None:
    await paying.credit("1")
    r = (await paying.send([FR, FR2], schedule_at="2999-01-01T00:00:00Z")).json()
    cancel = await paying.running.client.delete(
        f"/v1/orders/{r['order_id']}", headers=paying.headers
    )
    assert cancel.status_code == 200
    assert await paying.ledger() == [
        ("credit", "1"),
        ("charge", "-0.1"),
        ("refund", "0.05"),
        ("refund", "0.05"),
    ]
    assert (await paying.account_view())["balance"] == "1"


async def test_automatic_top_up(paying: Client) -> None:
    await paying.credit("0.1")
    await paying.rules(topup_threshold="0.08", topup_amount="5")
    await paying.send(FR)
    assert await paying.ledger() == [("credit", "0.1"), ("charge", "-0.05"), ("topup", "5")]
    assert (await paying.account_view())["balance"] == "5.05"


async def test_account_view_shows_limits_and_settings(client: Client) -> None:
    await client.rules(daily_limit=50, timezone="Europe/Paris")
    view = await client.account_view()
    assert view["usage_today"]["daily_limit"] == 50
    assert view["settings"]["timezone"] == "Europe/Paris"
    assert view["batch_limit"] == 10_000
    assert view["balance"] == "0"


async def _concurrent(client: Client, n: int) -> list[int]:
    numbers = [f"+3361234{i:04d}" for i in range(n)]
    rs = await asyncio.gather(*(client.send(num) for num in numbers))
    return [r.status_code for r in rs]


async def test_daily_limit_holds_under_concurrency(client: Client) -> None:
    await client.rules(daily_limit=20)
    codes = await _concurrent(client, 50)
    assert codes.count(202) == 20 and codes.count(403) == 30
    queued = [s for s in await client.stored() if s[1] != Status.REJECTED.value]
    assert len(queued) == 20


async def test_balance_holds_under_concurrency(paying: Client) -> None:
    await paying.credit("1")  # 20 messages at 0.05
    codes = await _concurrent(paying, 50)
    assert codes.count(202) == 20 and codes.count(402) == 30
    assert (await paying.account_view())["balance"] == "0"
    assert len([line for line in await paying.ledger() if line[0] == "charge"]) == 20
