"""The whole loop through emulated phones: send with the native API, wake-up over the event
stream, pull, state reports, received SMS, device choice, cancellation, re-registration."""

from __future__ import annotations

import asyncio

import httpx

from tests.android.conftest import Account, PhoneFactory, send, wait_status
from tests.support import HTTP_TIMEOUT, WAIT, Running


async def test_a_message_reaches_the_phone_and_is_delivered(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    said: list[str] = []
    async with phone(on_line=said.append) as p:
        message_id = await send(running, account, "+33612345678")
        await p.wait_for(lambda: any(m.state == "Delivered" for m in p.messages.values()), WAIT)
        # Woken by the event stream: the phone, which pulls only when told or when it
        # (re)connects, stayed connected and took the message after a MessageEnqueued.
        assert said.count("connected") == 1, said
        woken = said.index("event MessageEnqueued")
        [taken] = [i for i, line in enumerate(said) if line.startswith("message ")]
        assert woken < taken, said
        body = await wait_status(running, account, message_id, "delivered")
        assert [e["status"] for e in body["history"]][-1] == "delivered"
        [local] = p.messages.values()
        assert local.phone_numbers == ["+33612345678"]
        assert local.text == "hello"


async def test_a_failed_send_fails_the_message(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    async with phone(outcome="failed"):
        message_id = await send(running, account, "+33612345678")
        body = await wait_status(running, account, message_id, "failed")
        assert body["error_code"] == "RESULT_ERROR_GENERIC_FAILURE"


async def test_received_sms_reach_the_inbox_and_conversations(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    async with phone(own_number="+33600000009") as p:
        message_id = await send(running, account, "+33698765432")
        await wait_status(running, account, message_id, "delivered")
        assert await p.receive_sms("+33698765432", "Merci !") == [204]
        # A forged one (wrong key) is refused and stored nowhere.
        forged = await p.post_signed(p.webhooks[0]["url"], b'{"x":1}', key="wrong")
        assert forged == 401
    async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
        inbox = (await c.get("/v1/inbound", headers=account.auth)).json()["data"]
        thread = (await c.get("/v1/conversations/+33698765432", headers=account.auth)).json()
    [stored] = inbox
    assert (stored["from"], stored["to"], stored["text"]) == (
        "+33698765432",
        "+33600000009",
        "Merci !",
    )
    assert [(i["direction"], i["text"]) for i in thread["data"]] == [
        ("in", "Merci !"),
        ("out", "hello"),
    ]


async def test_a_received_sms_without_recipient_is_to_the_phone_not_from_it(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    """The app leaves ``recipient`` out when it cannot read the SIM's number; its
    ``phoneNumber`` is the sender again. The SMS is to the phone's number as registered
    with textgate, else to the phone itself."""
    async with phone(own_number="+33600000009") as p:
        assert p.registration is not None
        device_id = p.registration.id
        assert await p.receive_sms("+33698765432", "unnumbered", know_own_number=False) == [204]
        await running.gateway.services.devices.set_labels(
            account.id, device_id, phone_number="+33600000042"
        )
        assert await p.receive_sms("+33698765433", "numbered", know_own_number=False) == [204]
    async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
        inbox = (await c.get("/v1/inbound", headers=account.auth)).json()["data"]
    assert sorted((i["text"], i["from"], i["to"]) for i in inbox) == [
        ("numbered", "+33698765433", "+33600000042"),
        ("unnumbered", "+33698765432", device_id),
    ]


async def test_cancelling_a_message_held_on_the_phone(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    async with phone(outcome="hold") as p:
        message_id = await send(running, account, "+33612345678")
        await p.wait_for(lambda: len(p.messages) == 1, WAIT)
        async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
            r = await c.delete(f"/v1/devices/messages/{message_id}", headers=account.auth)
        assert r.status_code == 202
        await p.wait_for(lambda: [m.state for m in p.messages.values()] == ["Cancelled"], WAIT)
        assert "MessageCancelled" in p.events
        await wait_status(running, account, message_id, "cancelled")


async def test_cancelling_before_the_phone_pulled(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    async with phone(listen=False) as p:
        message_id = await send(running, account, "+33612345678")
        await wait_status(running, account, message_id, "sent")
        async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
            r = await c.delete(f"/v1/devices/messages/{message_id}", headers=account.auth)
            assert r.status_code == 202
            # The phone learns of it on its next pull: state Cancelling, unknown locally.
            await p.pull()
            await wait_status(running, account, message_id, "cancelled")
            assert [m.state for m in p.messages.values()] == ["Cancelled"]
            too_late = await c.delete(f"/v1/devices/messages/{message_id}", headers=account.auth)
        assert too_late.status_code == 409


async def test_a_delivered_message_cannot_be_cancelled(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    async with phone():
        message_id = await send(running, account, "+33612345678")
        await wait_status(running, account, message_id, "delivered")
        async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
            r = await c.delete(f"/v1/devices/messages/{message_id}", headers=account.auth)
    assert r.status_code == 409


async def test_unknown_token_and_registering_again(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    async with phone() as p:
        first = p.registration
        assert first is not None
        async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
            r = await c.delete(f"/v1/devices/{first.id}", headers=account.auth)
            assert r.status_code == 204
        # The stream ends; reconnecting gets 401 and the phone registers again.
        await p.wait_for(lambda: p.registration is not None and p.registration.id != first.id, WAIT)
        await asyncio.wait_for(p.subscribed.wait(), WAIT)
        message_id = await send(running, account, "+33612345678")
        await wait_status(running, account, message_id, "delivered")
        async with httpx.AsyncClient(
            base_url=running.base_url + "/mobile/v1", timeout=HTTP_TIMEOUT
        ) as c:
            old = await c.get("/message", headers={"Authorization": f"Bearer {first.token}"})
        assert old.status_code == 401


async def test_stored_token_is_kept_with_patch_device(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    async with phone(listen=False) as p:
        first = p.registration
    async with phone(listen=False, registration=first) as again:
        assert again.registration == first
        async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
            listed = (await c.get("/v1/devices", headers=account.auth)).json()["data"]
        assert len(listed) == 1


async def test_no_online_device_keeps_the_message_waiting(
    running: Running, account: Account
) -> None:
    message_id = await send(running, account, "+33612345678")
    # It waits for a phone without using attempts (DESIGN "Delivery contract").
    body = await wait_status(running, account, message_id, "queued", error="waiting")
    assert body["attempts"] == 0
