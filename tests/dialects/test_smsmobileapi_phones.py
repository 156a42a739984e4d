"""SMSmobileAPI end to end through emulated phones: sending with a chosen device and SIM,
scheduling, resending an unsent message, receiving, marking read, aliases, conversations,
deleting, the phones' own sent log, managing devices, and OAuth2 - each call made the way the
seed's client examples make it (query string GET, form POST, no trailing slash)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.android import conftest as phones
from tests.android.conftest import Account, PhoneFactory, wait_status
from tests.support import HTTP_TIMEOUT, WAIT, Running, running_gateway, until
from tests.webhooks.receiver import running_receiver
from textgate.config import Settings, WebhookSettings
from textgate.core.webhook_formats import TEXTGATE
from textgate.core.webhooks import INBOUND_RECEIVED
from textgate.dialects.registry import webhook_formats
from textgate.dialects.smsmobileapi.webhook_format import FORMAT as SMSMOBILEAPI
from textgate.phone.emulator import PhoneConfig, PhoneEmulator

# The phone fixtures (a gateway whose connector is the account's phones, an account, and
# emulated phones), shared with the Android tests.
running = phones.running
account = phones.account
phone = phones.phone

TWO_SIMS = [
    {"slotIndex": 0, "simNumber": 1, "phoneNumber": "********0001"},
    {"slotIndex": 1, "simNumber": 2, "phoneNumber": "********0002"},
]


async def call(
    running: Running, path: str, account: Account, *, post: bool = False, **params: Any
) -> httpx.Response:
    """A GET with the apikey in the query, or a form POST with it in the body."""
    fields = {"apikey": account.key, **params}
    async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
        if post:
            return await c.post(path, data=fields)
        return await c.get(path, params=fields)


async def ok(running: Running, path: str, account: Account, **params: Any) -> dict[str, Any]:
    r = await call(running, path, account, **params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def wait_log(
    running: Running, account: Account, guid: str, check: Any, within: float = WAIT
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while True:
        lines: list[dict[str, Any]] = (
            await ok(running, "/log/sent/sms/", account, guid_message=guid)
        )["result"]["sms"]
        if check(lines):
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"log of {guid}: {lines}")
        await asyncio.sleep(0.05)


async def test_send_through_the_chosen_phone_and_sim(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    async with phone(name="A") as a, phone(name="B", sim_cards=TWO_SIMS) as b:
        assert a.registration and b.registration
        r = await call(
            running,
            "/sendsms",
            account,
            post=True,
            recipients="+33612345678",
            message="Hello World",
            sIdentifiant=b.registration.id,
            port="2",
            **{"from": "python"},
        )
        assert r.status_code == 200, r.text
        result = r.json()["result"]
        assert (result["error"], result["sent"], result["port"]) == (0, "1", 2)
        assert result["note"] == "sent by mobile"
        await wait_status(running, account, result["id"], "delivered")
        assert a.messages == {}
        [local] = b.messages.values()
        assert (local.phone_numbers, local.sim_number, local.text) == (
            ["+33612345678"],
            2,
            "Hello World",
        )
        [line] = await wait_log(
            running, account, result["id"], lambda ls: ls[0]["send_from_mobile"]
        )
        assert line["sIdentifiantPhone"] == b.registration.id
        assert line["port"] == 2
        assert line["recipients"] == "33612345678"
        assert line["send_from_mobile_erreur"] == line["error_api"] == ""
        assert line["send_from_mobile_timestamp"] > 0
        # The phones' own sent log shows it too.
        mine = await ok(running, "/log/sent/frommobile/", account, sIdentifiant=b.registration.id)
        assert [(s["number"], s["message"]) for s in mine["result"]["sms"]] == [
            ("+33612345678", "Hello World")
        ]
        other = await ok(running, "/log/sent/frommobile/", account, sIdentifiant=a.registration.id)
        assert other["result"]["count"] == 0


async def test_a_scheduled_message_leaves_at_its_time(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    async with phone() as p:
        # Whole seconds: at least 4 s ahead, so that a slow request under load cannot reach
        # the gateway after the time it asks for.
        at = int(time.time()) + 5
        body = await ok(
            running,
            "/sendsms/",
            account,
            recipients="+33612345678",
            message="later",
            schedule_timestamp=str(at),
        )
        guid = body["result"]["id"]
        assert body["result"]["note"] == "scheduled"
        body = await wait_status(running, account, guid, "delivered")
        assert [m.text for m in p.messages.values()] == ["later"]
        # Not before its time, by the stored history rather than this test's own timing.
        sending = [e["at"] for e in body["history"] if e["status"] == "sending"]
        assert sending and min(datetime.fromisoformat(t) for t in sending).timestamp() >= at


async def test_resending_an_unsent_message(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    async with phone(outcome="failed") as p:
        body = await ok(running, "/sendsms", account, recipients="+33612345678", message="retry")
        guid = body["result"]["id"]
        await wait_status(running, account, guid, "failed")
        [line] = await wait_log(running, account, guid, lambda ls: ls[0]["send_from_mobile_erreur"])
        assert line["send_from_mobile"] == 0
        assert "RESULT_ERROR_GENERIC_FAILURE" in line["send_from_mobile_erreur"]
        failed = await ok(running, "/log/sent/sms/", account, error_mobile="1")
        assert [s["guid_message"] for s in failed["result"]["sms"]] == [guid]
        p.config.outcome = "delivered"
        r = await call(running, "/resend/", account, post=True, guid=guid)
        assert r.status_code == 200, r.text
        assert r.json() == {
            "result": {"error": "0", "sms": "resent with successfully", "attempt": 1}
        }
        lines = await wait_log(
            running, account, guid, lambda ls: len(ls) == 2 and ls[0]["send_from_mobile"] == 1
        )
        assert [m.state for m in p.messages.values()] == ["Failed", "Delivered"]
        assert lines[0]["sms"] == "retry"
        # The latest attempt went out: nothing left to resend.
        again = await call(running, "/resend/", account, guid=guid)
        assert again.status_code == 409
        assert again.json()["result"]["error"] == "51"


async def test_received_sms_read_alias_conversations_delete(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    async with phone(own_number="+33600000009") as p:
        assert p.registration
        sent = await ok(running, "/sendsms", account, recipients="+33698765432", message="Hi")
        await wait_status(running, account, sent["result"]["id"], "delivered")
        assert await p.receive_sms("+33698765432", "Merci !") == [204]
        assert await p.receive_sms("+447700900123", "Code 4829") == [204]
        inbox = (await ok(running, "/getsms", account))["result"]
        assert inbox["error"] == ""
        assert [(s["number"], s["message"]) for s in inbox["sms"]] == [
            ("+447700900123", "Code 4829"),
            ("+33698765432", "Merci !"),
        ]
        first = inbox["sms"][1]
        assert first["sIdentifiantPhone"] == p.registration.id
        assert first["alias"] is None and first["guid"] == first["id"]
        assert len(first["time_received"]) == 17 and isinstance(first["timestamp_unix"], int)
        by_phone = await ok(running, "/getsms/", account, sIdentifiantPhone=p.registration.id)
        assert len(by_phone["result"]["sms"]) == 2
        # Mark read: it leaves the unread list.
        r = await call(running, "/getsms/set-read/", account, guid_message=first["guid"])
        assert r.status_code == 200, r.text
        unread = await ok(running, "/getsms/", account, onlyunread="yes")
        assert [s["message"] for s in unread["result"]["sms"]] == ["Code 4829"]
        # Alias, and it names the conversation.
        r = await call(
            running, "/getsms/update/", account, post=True, guid=first["guid"], alias="John Doe"
        )
        assert r.status_code == 200, r.text
        talks = await ok(
            running, "/conversation/sms/list/", account, origineConversation="received"
        )
        assert talks["success"] is True and talks["resume_line_how"] is None
        by_number = {c["phone_number"]: c for c in talks["conversations"]}
        john = by_number["+33698765432"]
        assert john["contact_alias"] == "John Doe"
        assert [(m["direction"], m["message"], m["status"]) for m in john["messages"]] == [
            ("outgoing", "Hi", "sent"),
            ("incoming", "Merci !", "received"),
        ]
        assert {m["mobile_sid"] for m in john["messages"]} == {p.registration.id}
        short = await ok(
            running,
            "/conversation/sms/list",
            account,
            origineConversation="sent",
            resume="1",
            resume_line_how="1",
        )
        assert [(c["phone_number"], len(c["messages"])) for c in short["conversations"]] == [
            ("+33698765432", 1)
        ]
        # Clearing the alias, then deleting one received SMS.
        await ok(running, "/getsms/update", account, guid=first["guid"], alias="")
        after = await ok(running, "/getsms", account, sIdentifiantPhone=p.registration.id)
        assert [s["alias"] for s in after["result"]["sms"]] == [None, None]
        gone = await ok(running, "/deletesms/", account, guid_message=first["guid"])
        assert gone == {"result": {"error": None, "count_delete": 1}}
        left = await ok(running, "/getsms", account)
        assert [s["message"] for s in left["result"]["sms"]] == ["Code 4829"]


async def test_devices_list_update_delete(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    async with phone(name="Pixel", sim_cards=TWO_SIMS) as p:
        assert p.registration
        sid = p.registration.id
        listed = await ok(running, "/gateway/mobile/list/", account)
        [mobile] = listed["result"]["mobiles"]
        assert (mobile["sid"], mobile["name"], mobile["sims"]) == (sid, "Pixel", [1, 2])
        r = await call(
            running, "/gateway/mobile/update", account, post=True, sid=sid, label="OfficePhone"
        )
        assert r.status_code == 200, r.text
        found = await ok(running, "/gateway/mobile/list", account, search="officephone")
        assert [m["label"] for m in found["result"]["mobiles"]] == ["OfficePhone"]
        assert (await ok(running, "/gateway/mobile/list", account, sid="nope"))["result"][
            "mobiles"
        ] == []
        device = await running.gateway.services.devices.get(account.id, sid)
        assert device.label == "OfficePhone"
        await ok(running, "/gateway/mobile/update/", account, sid=sid, label="")
        assert (await running.gateway.services.devices.get(account.id, sid)).label is None
        gone = await ok(running, "/gateway/mobile/delete/", account, sid=sid)
        assert gone["result"]["deleted"] == "1"
        assert (await ok(running, "/gateway/mobile/list", account))["result"]["mobiles"] == []
        # Sending through a deleted phone is refused up front.
        r = await call(
            running, "/sendsms", account, recipients="+33612345678", message="x", sIdentifiant=sid
        )
        assert r.status_code == 404
        assert r.json()["result"]["error"] == "50"


async def test_oauth2_client_credentials(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    async with phone() as p:
        made = await call(running, "/oauth2/clients", account, post=True)
        assert made.status_code == 201, made.text
        client = made.json()
        async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
            token = await c.post(
                "/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": client["client_id"],
                    "client_secret": client["client_secret"],
                },
            )
            assert token.status_code == 200, token.text
            issued = token.json()
            assert issued["token_type"] == "Bearer" and issued["expires_in"] > 0
            assert token.headers["cache-control"] == "no-store"
            auth = {"Authorization": f"Bearer {issued['access_token']}"}
            sent = await c.post(
                "/sendsms", data={"recipients": "+12125550123", "message": "Hello"}, headers=auth
            )
            assert sent.status_code == 200, sent.text
            await p.wait_for(lambda: len(p.messages) == 1, WAIT)
            wrong = await c.post(
                "/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": client["client_id"],
                    "client_secret": "nope",
                },
            )
            assert wrong.status_code == 401
            assert wrong.json()["error"] == "invalid_client"
            bad = await c.get("/getsms/", headers={"Authorization": "Bearer nope"})
            assert bad.status_code == 401
            assert bad.json()["result"]["error"] == "20"
        # Only digests are stored.
        stored = await running.gateway.db.txn(_oauth_rows)
        assert client["client_secret"] not in repr(stored)
        assert issued["access_token"] not in repr(stored)


def _oauth_rows() -> Any:
    from textgate.storage.txn import Query

    clients = yield Query("SELECT * FROM oauth_clients")
    tokens = yield Query("SELECT * FROM oauth_tokens")
    return [dict(r) for r in (clients or [])] + [dict(r) for r in (tokens or [])]


def _last_event() -> Any:
    from textgate.storage.txn import Query

    rows = yield Query("SELECT COALESCE(MAX(id), 0) AS id FROM message_events")
    return int(rows[0]["id"])


def _events_fed() -> Any:
    """How far the webhook feed has read the message events."""
    from textgate.storage.txn import Query

    rows = yield Query("SELECT position FROM webhook_cursors WHERE source = 'message_events'")
    return int(rows[0]["position"]) if rows else 0


FAST_HOOKS = WebhookSettings(
    allow_private_targets=True,
    poll_seconds=0.05,
    retry_base_seconds=0.05,
    retry_max_seconds=0.3,
    settle_seconds=0.05,
    timeout_seconds=HTTP_TIMEOUT,
)


async def test_received_sms_webhook_in_the_seed_shape(settings: Settings) -> None:
    hooked = phones.phone_settings(settings).model_copy(update={"webhooks": FAST_HOOKS})
    async with running_receiver() as receiver, running_gateway(hooked) as gw:
        acc = await phones.make_account(gw)
        r = await call(gw, "/webhook/add/", acc, post=True, url=receiver.url)
        assert r.status_code == 200, r.text
        webhook_id = r.json()["result"]["id"]
        emulator = PhoneEmulator(
            PhoneConfig(base_url=gw.base_url + phones.PREFIX, private_token=acc.key)
        )
        try:
            await emulator.register()
            await emulator.sync()
            sent = await ok(gw, "/sendsms", acc, recipients="+33698765432", message="Hi")
            assert await emulator.receive_sms("+33698765432", "Bonjour è") == [204]
            await until(lambda: len(receiver.hits) >= 1)
            [hit] = receiver.hits
            body = json.loads(hit.body)
            assert list(body) == ["date", "hour", "time_received", "message", "number", "guid"]
            assert (body["message"], body["number"]) == ("Bonjour è", "+33698765432")
            assert body["time_received"] == f"{body['date']} {body['hour']}"
            [received] = (await ok(gw, "/getsms", acc))["result"]["sms"]
            assert body["guid"] == received["guid"]
            assert hit.headers["content-type"] == "application/json"
            # The sent message's events are not posted in this format: still one delivery.
            await wait_status(gw, acc, sent["result"]["id"], "sent")
            written = await gw.gateway.db.txn(_last_event)

            async def fed() -> bool:
                return await gw.gateway.db.txn(_events_fed) >= written

            # Once the feed has read the "sent" event, a delivery for it would exist.
            await until(fed)
            deliveries = await gw.gateway.services.webhooks.deliveries(acc.id, webhook_id)
            assert len(deliveries.items) == 1
            assert len(receiver.hits) == 1
            gone = await ok(gw, "/webhook/delete/", acc, id=webhook_id)
            assert gone["result"]["deleted"] == "1"
        finally:
            await emulator.aclose()


def test_webhook_formats_render_pure() -> None:
    render = webhook_formats().render
    data = {"inbound_id": "01ABC", "from": "+123456789", "text": "Hello", "to": "+1", "parts": 1}
    at = int(datetime(2025, 1, 20, 10, 14, 50, tzinfo=UTC).timestamp() * 1000)
    rendered = render(SMSMOBILEAPI, "in_01ABC", INBOUND_RECEIVED, at, data)
    assert rendered is not None and rendered.content_type == "application/json"
    assert json.loads(rendered.body) == {
        "date": "2025-01-20",
        "hour": "10:14:50",
        "time_received": "2025-01-20 10:14:50",
        "message": "Hello",
        "number": "+123456789",
        "guid": "01ABC",
    }
    assert render(SMSMOBILEAPI, "ev_1", "message.delivered", at, {"message_id": "x"}) is None
    native = render(TEXTGATE, "in_01ABC", INBOUND_RECEIVED, at, data)
    assert native is not None and json.loads(native.body)["data"] == data
