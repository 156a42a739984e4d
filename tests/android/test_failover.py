"""Fail-over never sends an SMS twice: a message a phone pulled stays with that phone, a
message pinned to a phone waits for it; only messages never handed off move or fail.

Each test synchronises on a *sentinel*: a never-pulled message on a quiet phone registered
after the phone under test went silent. Once the sweep has moved (or failed) the sentinel,
it has seen the phone under test offline too, in the same pass.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.android.conftest import (
    PREFIX,
    Account,
    make_account,
    phone_settings,
    send,
    status_of,
    wait_status,
)
from tests.support import HTTP_TIMEOUT, WAIT, Running, running_gateway, until
from textgate.config import PricingSettings, Settings
from textgate.core.pricing import parse_amount
from textgate.phone.emulator import PhoneConfig, PhoneEmulator


@contextlib.asynccontextmanager
async def gateway(settings: Settings, **options: Any) -> AsyncIterator[Running]:
    """Phones go offline after 1 s; messages cost 0.05 so that refunds show."""
    tuned = phone_settings(settings, offline_after_seconds=1, **options).model_copy(
        update={"pricing": PricingSettings(default_price="0.05")}
    )
    async with running_gateway(tuned) as running:
        yield running


async def paying_account(running: Running) -> Account:
    account = await make_account(running)
    await running.gateway.services.accounts.credit(account.id, parse_amount("1"))
    return account


def emulator(running: Running, account: Account, name: str, **config: Any) -> PhoneEmulator:
    config.setdefault("timeout_seconds", HTTP_TIMEOUT)
    return PhoneEmulator(
        PhoneConfig(
            base_url=running.base_url + PREFIX, private_token=account.key, name=name, **config
        )
    )


@contextlib.asynccontextmanager
async def listening(phone: PhoneEmulator) -> AsyncIterator[PhoneEmulator]:
    """The phone keeps its event stream open (and pulls) until the block ends; then it
    says nothing more."""
    stop = asyncio.Event()
    task = asyncio.create_task(phone.listen(stop))
    try:
        await asyncio.wait_for(phone.subscribed.wait(), WAIT)
        yield phone
    finally:
        stop.set()
        await task


def recipients(phone: PhoneEmulator) -> list[str]:
    return [n for m in phone.messages.values() for n in m.phone_numbers]


async def refunds(running: Running, account: Account) -> set[str | None]:
    lines = await running.gateway.services.accounts.ledger(account.id)
    return {line.message_id for line in lines if line.kind == "refund"}


async def wait_refunded(running: Running, account: Account, message_id: str) -> None:
    async def refunded() -> bool:
        return message_id in await refunds(running, account)

    await until(refunded, f"the refund of {message_id}")


def statuses(body: dict[str, Any]) -> list[str]:
    return [e["status"] for e in body["history"]]


async def test_a_pulled_message_stays_with_its_silent_phone(settings: Settings) -> None:
    async with gateway(settings) as running:
        account = await paying_account(running)
        async with emulator(running, account, "A", outcome="hold") as a:
            await a.register()
            async with listening(a):
                taken = await send(running, account, "+33611111111")
                await a.wait_for(lambda: recipients(a) == ["+33611111111"], WAIT)
            # A pulled it and went silent. A sentinel waits on a quiet phone, then B comes.
            async with emulator(running, account, "quiet") as quiet:
                await quiet.register()
                sentinel = await send(running, account, "+33622222222")
                await wait_status(running, account, sentinel, "sent")
                async with emulator(running, account, "B") as b:
                    await b.register()
                    async with listening(b):
                        await wait_status(running, account, sentinel, "delivered")
                        assert recipients(b) == ["+33622222222"]
                        body = await status_of(running, account, taken)
                        assert body["status"] == "sent"
                        assert statuses(body) == ["queued", "sending", "sent"]
                        # A comes back and reports: the message ends from A.
                        await a.release(next(iter(a.messages)))
                        await wait_status(running, account, taken, "delivered")
                    assert recipients(b) == ["+33622222222"]
        assert taken not in await refunds(running, account)


async def test_failover_fail_spares_a_pulled_message(settings: Settings) -> None:
    async with gateway(settings, failover="fail") as running:
        account = await paying_account(running)
        async with emulator(running, account, "A", outcome="hold") as a:
            await a.register()
            async with listening(a):
                taken = await send(running, account, "+33611111111")
                await a.wait_for(lambda: recipients(a) == ["+33611111111"], WAIT)
            async with emulator(running, account, "quiet") as quiet:
                await quiet.register()
                sentinel = await send(running, account, "+33622222222")
                body = await wait_status(running, account, sentinel, "failed")
                assert body["error_code"] == "device-offline"
                assert "offline before taking it" in body["reason"]
                await wait_refunded(running, account, sentinel)
        body = await status_of(running, account, taken)
        assert body["status"] == "sent" and "failed" not in statuses(body)
        assert taken not in await refunds(running, account)


async def pinned_send(running: Running, account: Account, how: str, to: str, device_id: str) -> str:
    """A message pinned to a phone: by SMSmobileAPI ``sIdentifiant`` or by a sender that
    is the phone's label ("Office")."""
    if how == "sender":
        return await send(running, account, to, **{"from": "Office"})
    async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
        r = await c.post(
            "/sendsms",
            data={
                "apikey": account.key,
                "recipients": to,
                "message": "hi",
                "sIdentifiant": device_id,
            },
        )
    assert r.status_code == 200, r.text
    return str(r.json()["result"]["id"])


async def label_office(running: Running, account: Account, device_id: str) -> None:
    async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
        r = await c.patch(
            f"/v1/devices/{device_id}", json={"label": "Office"}, headers=account.auth
        )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("how", ["sIdentifiant", "sender"])
async def test_a_pinned_message_waits_for_its_phone(settings: Settings, how: str) -> None:
    async with gateway(settings) as running:
        account = await paying_account(running)
        async with emulator(running, account, "office") as office:
            reg = await office.register()
            await label_office(running, account, reg.id)
            pinned = await pinned_send(running, account, how, "+33611111111", reg.id)
            await wait_status(running, account, pinned, "sent")
            # The office phone never pulled it and is now quiet; so is a later phone holding
            # the sentinel. B is online: it gets the sentinel, not the pinned message.
            async with emulator(running, account, "quiet") as quiet:
                await quiet.register()
                sentinel = await send(running, account, "+33622222222")
                await wait_status(running, account, sentinel, "sent")
                async with emulator(running, account, "B") as b:
                    await b.register()
                    async with listening(b):
                        await wait_status(running, account, sentinel, "delivered")
                        assert recipients(b) == ["+33622222222"]
                        assert (await status_of(running, account, pinned))["status"] == "sent"
                        # The office phone comes back: the message leaves from it.
                        async with listening(office):
                            await wait_status(running, account, pinned, "delivered")
                        assert recipients(office) == ["+33611111111"]
                        assert recipients(b) == ["+33622222222"]
        assert pinned not in await refunds(running, account)


async def test_a_pinned_message_fails_when_its_phone_is_deleted(settings: Settings) -> None:
    async with gateway(settings) as running:
        account = await paying_account(running)
        async with (
            emulator(running, account, "office") as office,
            emulator(running, account, "B") as b,
        ):
            reg = await office.register()
            await label_office(running, account, reg.id)
            pinned = await pinned_send(running, account, "sender", "+33611111111", reg.id)
            await wait_status(running, account, pinned, "sent")
            await b.register()
            async with listening(b):
                async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
                    r = await c.delete(f"/v1/devices/{reg.id}", headers=account.auth)
                assert r.status_code == 204
                body = await wait_status(running, account, pinned, "failed")
                assert body["error_code"] == "device-removed"
                assert body["reason"] == "the chosen phone was removed"
                assert body["history"][-1]["detail"] == "the chosen phone was removed"
                await wait_refunded(running, account, pinned)
                assert recipients(b) == []
        summary = await running.gateway.services.accounts.summary(
            await running.gateway.services.accounts.get(account.id)
        )
        assert summary.balance == parse_amount("1")


async def test_deleting_a_phone_moves_only_what_it_had_not_pulled(settings: Settings) -> None:
    async with gateway(settings, validity_seconds=4) as running:
        account = await paying_account(running)
        async with emulator(running, account, "A", outcome="hold") as a:
            reg = await a.register()
            taken = await send(running, account, "+33611111111")
            await wait_status(running, account, taken, "sent")
            assert len(await a.pull()) == 1
            waiting = await send(running, account, "+33622222222")
            await wait_status(running, account, waiting, "sent")
            async with emulator(running, account, "B") as b:
                await b.register()
                async with listening(b):
                    async with httpx.AsyncClient(
                        base_url=running.base_url, timeout=HTTP_TIMEOUT
                    ) as c:
                        r = await c.delete(f"/v1/devices/{reg.id}", headers=account.auth)
                    assert r.status_code == 204
                    await wait_status(running, account, waiting, "delivered")
                    assert recipients(b) == ["+33622222222"]
                    # What A took ends by validity: it may have gone out, so no refund.
                    body = await wait_status(running, account, taken, "expired")
                    assert body["error_code"] == "no-report"
                    assert body["reason"] == "phone did not report within validity"
                    assert recipients(b) == ["+33622222222"]
        assert taken not in await refunds(running, account)
