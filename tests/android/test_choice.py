"""Which phone sends: the one the sender names (and its SIM), else the least busy online one;
phones offline too long get nothing new and the messages they did not pull fail over (see
test_failover for what never moves)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.android.conftest import (
    PREFIX,
    Account,
    PhoneFactory,
    make_account,
    phone_settings,
    send,
    wait_status,
)
from tests.support import HTTP_TIMEOUT, WAIT, Running, ShiftedClock, running_gateway, until
from textgate.config import Settings
from textgate.core.clock import Clock, system_clock
from textgate.phone.emulator import PhoneConfig, PhoneEmulator
from textgate.services.query import MessageFilter


async def label(running: Running, account: Account, device_id: str, **fields: Any) -> None:
    async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
        r = await c.patch(f"/v1/devices/{device_id}", json=fields, headers=account.auth)
    assert r.status_code == 200, r.text


def holder(p: PhoneEmulator, message_count: int = 1) -> bool:
    return len(p.messages) == message_count


async def test_sender_names_the_device_and_sim(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    sims = [
        {"slotIndex": 0, "simNumber": 1, "phoneNumber": "+33600000001"},
        {"slotIndex": 1, "simNumber": 2, "phoneNumber": "+33600000002"},
    ]
    async with phone(name="A") as a, phone(name="B", sim_cards=sims) as b:
        assert a.registration and b.registration
        await label(running, account, a.registration.id, label="Office")
        by_label = await send(running, account, "+33612345678", **{"from": "Office"})
        by_sim = await send(running, account, "+33612345679", **{"from": "+33600000002"})
        await wait_status(running, account, by_label, "delivered")
        await wait_status(running, account, by_sim, "delivered")
        assert [m.phone_numbers for m in a.messages.values()] == [["+33612345678"]]
        assert [m.sim_number for m in a.messages.values()] == [None]
        assert [(m.phone_numbers, m.sim_number) for m in b.messages.values()] == [
            (["+33612345679"], 2)
        ]


async def test_the_least_busy_phone_takes_the_next_message(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    async with phone(name="A", outcome="hold") as a, phone(name="B", outcome="hold") as b:
        for n in range(4):
            await send(running, account, f"+3361234567{n}")
        await a.wait_for(lambda: len(a.messages) == 2, WAIT)
        await b.wait_for(lambda: len(b.messages) == 2, WAIT)
        async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
            listed = (await c.get("/v1/devices", headers=account.auth)).json()["data"]
        assert sorted(d["pending"] for d in listed) == [2, 2]
        assert all(d["connected"] for d in listed)


@contextlib.asynccontextmanager
async def gateway(
    settings: Settings, *, clock: Clock = system_clock, **options: Any
) -> AsyncIterator[Running]:
    async with running_gateway(phone_settings(settings, **options), clock=clock) as running:
        yield running


async def _quiet_phone(running: Running, account: Account, name: str) -> PhoneEmulator:
    """A phone that registers and then says nothing more (it went offline)."""
    p = PhoneEmulator(
        PhoneConfig(
            base_url=running.base_url + PREFIX,
            private_token=account.key,
            name=name,
            timeout_seconds=HTTP_TIMEOUT,
        )
    )
    await p.register()
    return p


async def test_waiting_messages_of_an_offline_phone_move_to_another(settings: Settings) -> None:
    async with gateway(settings, offline_after_seconds=1) as running:
        account = await make_account(running)
        gone = await _quiet_phone(running, account, "gone")
        try:
            first = await send(running, account, "+33612345678")
            await wait_status(running, account, first, "sent")
            stop = asyncio.Event()
            async with PhoneEmulator(
                PhoneConfig(
                    base_url=running.base_url + PREFIX,
                    private_token=account.key,
                    name="spare",
                    timeout_seconds=HTTP_TIMEOUT,
                )
            ) as spare:
                await spare.register()
                await spare.sync()
                listening = asyncio.create_task(spare.listen(stop))
                try:
                    # Once "gone" has not been seen for a second, its message moves.
                    await wait_status(running, account, first, "delivered")
                    later = await send(running, account, "+33612345679")
                    await wait_status(running, account, later, "delivered")
                    assert len(spare.messages) == 2
                finally:
                    stop.set()
                    await listening
            async with httpx.AsyncClient(
                base_url=running.base_url + PREFIX, timeout=HTTP_TIMEOUT
            ) as c:
                token = {"Authorization": f"Bearer {gone.registration.token}"}  # type: ignore[union-attr]
                assert (await c.get("/message", headers=token)).json() == []
        finally:
            await gone.aclose()


async def test_failover_fail_fails_the_waiting_messages(settings: Settings) -> None:
    async with gateway(settings, offline_after_seconds=1, failover="fail") as running:
        account = await make_account(running)
        gone = await _quiet_phone(running, account, "gone")
        try:
            message_id = await send(running, account, "+33612345678")
            body = await wait_status(running, account, message_id, "failed")
            assert body["error_code"] == "device-offline"
        finally:
            await gone.aclose()


async def test_messages_expire_on_a_phone_that_never_pulls(settings: Settings) -> None:
    async with gateway(settings, validity_seconds=1) as running:
        account = await make_account(running)
        quiet = await _quiet_phone(running, account, "quiet")
        try:
            message_id = await send(running, account, "+33612345678")
            await wait_status(running, account, message_id, "expired")
        finally:
            await quiet.aclose()


async def test_a_named_device_that_is_offline_gets_nothing(settings: Settings) -> None:
    clock = ShiftedClock()
    async with gateway(settings, clock=clock, offline_after_seconds=30, device="Office") as running:
        account = await make_account(running)
        office = await _quiet_phone(running, account, "Office")
        try:
            clock.advance(31)  # not seen for longer than offline_after_seconds
            message_id = await send(running, account, "+33612345678")
            # The dispatcher has looked at it and set it aside, without using an attempt.
            body = await wait_status(running, account, message_id, "queued", error="waiting")
            assert body["attempts"] == 0
            async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
                listed = (await c.get("/v1/devices", headers=account.auth)).json()["data"]
            assert [(d["name"], d["pending"]) for d in listed] == [("Office", 0)]
        finally:
            await office.aclose()


async def test_the_vendors_messages_alias(running: Running, account: Account) -> None:
    async with httpx.AsyncClient(base_url=running.base_url + PREFIX, timeout=HTTP_TIMEOUT) as c:
        got = (await c.post("/device", json={"name": "x"}, headers=account.auth)).json()
        token = {"Authorization": f"Bearer {got['token']}"}
        assert (await c.get("/messages", headers=token)).json() == []
        assert (await c.patch("/messages", json=[], headers=token)).status_code == 204


async def test_the_smsgate_api_names_the_phone_that_carries_a_message(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    """SMSGate's client API answers a message's ``deviceId``: the phone textgate chose for
    it, or the one its client named; the list says the same, and narrows to a phone."""
    api = "/3rdparty/v1/messages"
    async with (
        phone(name="A") as a,
        phone(name="B") as b,
        httpx.AsyncClient(
            base_url=running.base_url, timeout=HTTP_TIMEOUT, headers=account.auth
        ) as c,
    ):
        assert a.registration and b.registration
        phones = {a.registration.id: a, b.registration.id: b}

        async def sent(to: str, **fields: Any) -> str:
            body = {"textMessage": {"text": "hi"}, "phoneNumbers": [to], **fields}
            r = await c.post(api, json=body)
            assert r.status_code == 202, r.text
            return str(r.json()["id"])

        async def delivered(ident: str) -> dict[str, Any]:
            async def state() -> dict[str, Any]:
                body: dict[str, Any] = (await c.get(f"{api}/{ident}")).json()
                return body

            async def done() -> bool:
                return (await state())["state"] == "Delivered"

            await until(done, f"message {ident} to be delivered")
            return await state()

        chosen = await delivered(await sent("+33612345678", id="chosen"))
        named = await delivered(await sent("+33612345679", id="named", deviceId=b.registration.id))
        holder = [
            pid
            for pid, p in phones.items()
            if any(m.phone_numbers == ["+33612345678"] for m in p.messages.values())
        ]
        assert chosen["deviceId"] in phones and [chosen["deviceId"]] == holder
        assert named["deviceId"] == b.registration.id
        listed = (await c.get(api)).json()
        assert {s["id"]: s["deviceId"] for s in listed} == {
            "chosen": chosen["deviceId"],
            "named": b.registration.id,
        }
        # The list narrowed to one phone: what it carries, counted as such.
        for pid in phones:
            r = await c.get(api, params={"deviceId": pid})
            carried = sorted(s["id"] for s in listed if s["deviceId"] == pid)
            assert sorted(s["id"] for s in r.json()) == carried
            assert r.headers["X-Total-Count"] == str(len(carried))
        nobody = await c.get(api, params={"deviceId": "no-such-phone"})
        assert (nobody.json(), nobody.headers["X-Total-Count"]) == ([], "0")
        # Another account learns nothing of these messages' phones.
        messages = running.gateway.services.messages
        ids = [m.id for m in await messages.search(account.id, MessageFilter())]
        other = await make_account(running, "other")
        assert await messages.phones(other.id, ids) == {}
        assert len(await messages.phones(account.id, ids)) == 2


async def test_smsgate_device_active_within_counts_hours_since_a_phone_was_seen(
    settings: Settings,
) -> None:
    """``deviceActiveWithin`` refuses a send when the phone named (or every phone of the
    account) was last seen longer ago than that many hours, as the vendor's server does."""
    clock = ShiftedClock()
    async with gateway(settings, clock=clock) as running:
        account = await make_account(running)
        office = await _quiet_phone(running, account, "Office")
        assert office.registration
        try:
            clock.advance(3 * 3600)
            async with httpx.AsyncClient(
                base_url=running.base_url, timeout=HTTP_TIMEOUT, headers=account.auth
            ) as c:

                async def send_within(hours: int, **fields: Any) -> httpx.Response:
                    return await c.post(
                        "/3rdparty/v1/messages",
                        params={"deviceActiveWithin": str(hours)},
                        json={
                            "textMessage": {"text": "hi"},
                            "phoneNumbers": ["+33612345678"],
                            **fields,
                        },
                    )

                refused = await send_within(2)
                assert refused.status_code == 400
                assert refused.json()["message"] == "No active device with such ID found"
                named = await send_within(2, deviceId=office.registration.id)
                assert named.status_code == 400
                assert (await send_within(4)).status_code == 202
                assert (await send_within(4, deviceId=office.registration.id)).status_code == 202
                assert (await send_within(0)).status_code == 202  # 0: no filter
            stored = await running.gateway.services.messages.search(account.id, MessageFilter())
            assert len(stored) == 3
        finally:
            await office.aclose()
