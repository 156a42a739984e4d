"""The device API as the SMSGate app sees it: exact JSON, status codes and date formats for
every endpoint of the spec's checklist (android-device-api.md section 5), over the real
server. Requests are written as the app writes them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.android.conftest import PREFIX, Account, make_account, send
from tests.support import HTTP_TIMEOUT, Running, until
from textgate.core.message import Quality
from textgate.services.submit import SubmitRequest

APP_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NANOID = re.compile(r"^[A-Za-z0-9_-]{21}$")
APP_BODY = {
    "name": "Google/sdk_gphone64",
    "simCards": [
        {"slotIndex": 0, "simNumber": 1, "phoneNumber": "********1234", "carrierName": "****"},
        {"slotIndex": 1, "simNumber": 2, "phoneNumber": "+33600000002", "carrierName": "Free"},
    ],
}


def client(running: Running) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=running.base_url + PREFIX, timeout=HTTP_TIMEOUT)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(running: Running, account: Account) -> dict[str, Any]:
    async with client(running) as c:
        r = await c.post("/device", json=APP_BODY, headers=bearer(account.key))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_registration_with_the_private_token(running: Running, account: Account) -> None:
    got = await register(running, account)
    assert set(got) == {"id", "token", "login", "password"}
    assert NANOID.match(got["id"]) and NANOID.match(got["token"])
    assert re.fullmatch(r"[A-Z0-9_-]{6}", got["login"])
    assert re.fullmatch(r"[a-z0-9_-]{14}", got["password"])
    async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as native:
        [device] = (await native.get("/v1/devices", headers=account.auth)).json()["data"]
    assert device["id"] == got["id"] and device["name"] == "Google/sdk_gphone64"
    assert [s["sim_number"] for s in device["sim_cards"]] == [1, 2]
    assert device["push"] is False


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer tg_unknown.key"}, {"Authorization": "Code 123456"}],
    ids=["no header", "unknown private token", "one-time code"],
)
async def test_registration_refused(
    running: Running, account: Account, headers: dict[str, str]
) -> None:
    async with client(running) as c:
        r = await c.post("/device", json=APP_BODY, headers=headers)
    assert r.status_code == 401
    assert set(r.json()) <= {"message", "code"}


async def test_registration_with_basic_login(running: Running, account: Account) -> None:
    first = await register(running, account)
    await running.gateway.credentials.set_login(account.id, "acme-user", "a long password 1")
    async with client(running) as c:
        by_device_login = await c.post(
            "/device", json=APP_BODY, auth=(first["login"], first["password"])
        )
        by_account_login = await c.post(
            "/device", json=APP_BODY, auth=("acme-user", "a long password 1")
        )
        wrong = await c.post("/device", json=APP_BODY, auth=(first["login"], "nope"))
        garbled = await c.post(
            "/device", json=APP_BODY, headers={"Authorization": "Basic !!notbase64"}
        )
    assert by_device_login.status_code == 201
    # Signing in to an existing account: no new password (spec section 1).
    assert set(by_device_login.json()) == {"id", "token", "login"}
    assert by_device_login.json()["login"] == first["login"]
    assert by_account_login.status_code == 201 and by_account_login.json()["login"] == "acme-user"
    assert wrong.status_code == 401 and garbled.status_code == 401
    async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as native:
        listed = (await native.get("/v1/devices", headers=account.auth)).json()["data"]
    assert len(listed) == 3


async def test_bad_registration_body_is_400(running: Running, account: Account) -> None:
    async with client(running) as c:
        r = await c.post("/device", json={"simCards": []}, headers=bearer(account.key))
    assert r.status_code == 400 and "message" in r.json()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/device", {"id": "x"}),
        ("GET", "/message", None),
        ("PATCH", "/message", []),
        ("GET", "/webhooks", None),
        ("GET", "/settings", None),
        ("GET", "/events", None),
    ],
)
async def test_unknown_token_gets_401(running: Running, method: str, path: str, body: Any) -> None:
    async with client(running) as c:
        r = await c.request(method, path, json=body, headers=bearer("Q" * 21))
        anonymous = await c.request(method, path, json=body)
    assert r.status_code == 401 and anonymous.status_code == 401


async def test_patch_device(running: Running, account: Account) -> None:
    got = await register(running, account)
    sims = [{"slotIndex": 0, "simNumber": 1, "phoneNumber": "+33611111111", "carrierName": "X"}]
    async with client(running) as c:
        ok = await c.patch(
            "/device", json={"id": got["id"], "simCards": sims}, headers=bearer(got["token"])
        )
        other = await c.patch("/device", json={"id": "someone-else"}, headers=bearer(got["token"]))
        with_push = await c.patch(
            "/device", json={"id": got["id"], "pushToken": "fcm"}, headers=bearer(got["token"])
        )
    assert ok.status_code == 204 and ok.content == b""
    assert other.status_code == 403
    assert with_push.status_code == 204
    device = running.gateway.services.devices
    [found] = await device.of_account(account.id)
    assert [s.phone_number for s in found.sim_cards] == ["+33611111111"]
    assert found.push_token == "fcm"


async def test_get_device_answers_the_external_ip(running: Running, account: Account) -> None:
    got = await register(running, account)
    async with client(running) as c:
        anonymous = await c.get("/device")
        known = await c.get("/device", headers=bearer(got["token"]))
    assert anonymous.json() == {"externalIp": "127.0.0.1"}
    device = known.json()["device"]
    assert device["id"] == got["id"] and APP_DATE.match(device["lastSeen"])


async def test_pending_messages_in_the_apps_shape(running: Running, settings: Any) -> None:
    account = await make_account(running)
    got = await register(running, account)
    services = running.gateway.services
    acc = await services.accounts.get(account.id)
    await services.submit.submit(
        SubmitRequest(
            account=acc, recipients=["+33612345678"], text="Bonjour", quality=Quality.HIGH
        )
    )
    message_id = await send(running, account, "+33612345679")
    async with client(running) as c:
        fifo: list[dict[str, Any]] = []

        async def both_pending() -> bool:
            nonlocal fifo
            r = await c.get("/message", params={"order": "fifo"}, headers=bearer(got["token"]))
            assert r.status_code == 200, r.text
            fifo = r.json()
            return len(fifo) == 2

        await until(both_pending, "both messages on the phone")
        lifo = await c.get("/message", headers=bearer(got["token"]))
    first, second = fifo
    # Expedited (quality high -> priority 100) comes first whatever the order. Messages
    # carry the connector's default validity (48 h) as validUntil and ttl.
    assert set(first) == {
        "id",
        "message",
        "textMessage",
        "phoneNumbers",
        "withDeliveryReport",
        "priority",
        "state",
        "createdAt",
        "validUntil",
        "ttl",
    }
    assert 47 * 3600 < first["ttl"] <= 48 * 3600
    assert first["message"] == "Bonjour" and first["textMessage"] == {"text": "Bonjour"}
    assert first["phoneNumbers"] == ["+33612345678"] and first["priority"] == 100
    assert first["withDeliveryReport"] is True and first["state"] == "Pending"
    assert APP_DATE.match(first["createdAt"]) and NANOID.match(first["id"])
    assert "priority" not in second and "isEncrypted" not in second and "simNumber" not in second
    assert [m["id"] for m in lifo.json()] == [first["id"], second["id"]]
    # A message is on the phone once placed; the dispatcher records it sent just after.
    await _status_becomes(running, account, message_id, "sent")


async def _pulled(running: Running, token: str) -> list[dict[str, Any]]:
    """What the phone gets once it gets anything (GET /message)."""
    async with client(running) as c:
        items: list[dict[str, Any]] = []

        async def pending() -> bool:
            nonlocal items
            items = (await c.get("/message", headers=bearer(token))).json()
            return bool(items)

        await until(pending, "the message on the phone")
    return items


async def test_validity_and_sim_from_the_connector_options(settings: Any, tmp_path: Any) -> None:
    from tests.android.conftest import phone_settings
    from tests.support import running_gateway

    tuned = phone_settings(settings, validity_seconds=3600, sim_number=2)
    async with running_gateway(tuned) as running:
        account = await make_account(running)
        got = await register(running, account)
        await send(running, account, "+33612345678")
        items = await _pulled(running, got["token"])
    [item] = items
    assert item["simNumber"] == 2
    assert APP_DATE.match(item["validUntil"])
    assert 3590 <= item["ttl"] <= 3600


async def test_a_validity_the_client_asked_for_reaches_the_phone(
    settings: Any, tmp_path: Any
) -> None:
    from tests.android.conftest import phone_settings
    from tests.support import running_gateway

    # The connector's validity is an hour; the client's, ten minutes: the earlier one.
    tuned = phone_settings(settings, validity_seconds=3600)
    async with running_gateway(tuned) as running:
        account = await make_account(running)
        got = await register(running, account)
        acc = await running.gateway.services.accounts.get(account.id)
        await running.gateway.services.submit.submit(
            SubmitRequest(
                account=acc,
                recipients=["+33612345678"],
                text="code 4711",
                valid_until=datetime.now(UTC) + timedelta(minutes=10),
            )
        )
        items = await _pulled(running, got["token"])
    [item] = items
    assert 590 <= item["ttl"] <= 600


async def _status_becomes(running: Running, account: Account, message_id: str, want: str) -> None:
    async def reached() -> bool:
        return bool((await _native_message(running, account, message_id))["status"] == want)

    await until(reached, f"{message_id} to be {want}")


async def _native_message(running: Running, account: Account, message_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as native:
        r = await native.get(f"/v1/messages/{message_id}", headers=account.auth)
    body: dict[str, Any] = r.json()
    return body


async def _pulled(running: Running, token: str, count: int = 1) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    async with client(running) as c:

        async def pending() -> bool:
            nonlocal items
            items = (await c.get("/message", headers=bearer(token))).json()
            return len(items) >= count

        await until(pending, f"{count} message(s) to pull")
    return items


def _report(item_id: str, number: str, state: str, error: str | None = None) -> list[Any]:
    recipient: dict[str, Any] = {"phoneNumber": number, "state": state}
    if error:
        recipient["error"] = error
    return [
        {
            "id": item_id,
            "state": state,
            "recipients": [recipient],
            "states": {
                "Pending": "2026-01-01T10:00:01.000+03:00",
                state: "2026-01-01T10:00:02.5+03:00",
            },
        }
    ]


@pytest.mark.parametrize(
    ("states", "error", "final", "code"),
    [
        (["Pending"], None, "sent", None),
        (["Processed", "Sent", "Delivered"], None, "delivered", None),
        (
            ["Processed", "Failed"],
            "Send result: RESULT_ERROR_GENERIC_FAILURE",
            "failed",
            "RESULT_ERROR_GENERIC_FAILURE",
        ),
        (["Failed"], "TTL expired", "expired", "TTL expired"),
    ],
    ids=["pending is processed", "delivered", "failed", "ttl expired"],
)
async def test_state_reports_become_statuses(
    running: Running,
    account: Account,
    states: list[str],
    error: str | None,
    final: str,
    code: str | None,
) -> None:
    got = await register(running, account)
    message_id = await send(running, account, "+33612345678")
    [item] = await _pulled(running, got["token"])
    async with client(running) as c:
        for state in states:
            # The app echoes numbers verbatim; the '+' may be missing (vendor adds it back).
            body = _report(item["id"], "33612345678", state, error if state == "Failed" else None)
            r = await c.patch("/message", json=body, headers=bearer(got["token"]))
            assert r.status_code == 204
        # Reported once: no longer offered to the phone.
        assert (await c.get("/message", headers=bearer(got["token"]))).json() == []
    found = await _native_message(running, account, message_id)
    assert found["status"] == final
    assert found["error_code"] == code


async def test_unknown_ids_are_ignored_and_bad_bodies_refused(
    running: Running, account: Account
) -> None:
    got = await register(running, account)
    async with client(running) as c:
        unknown = await c.patch(
            "/message", json=_report("nobody", "+1", "Sent"), headers=bearer(got["token"])
        )
        no_recipients = await c.patch(
            "/message",
            json=[{"id": "x", "state": "Sent", "recipients": []}],
            headers=bearer(got["token"]),
        )
        bad_state = await c.patch(
            "/message", json=_report("x", "+1", "sent"), headers=bearer(got["token"])
        )
        not_json = await c.patch("/message", content=b"{", headers=bearer(got["token"]))
    assert unknown.status_code == 204
    assert no_recipients.status_code == bad_state.status_code == not_json.status_code == 400


async def test_another_device_cannot_report_a_message(running: Running, account: Account) -> None:
    one = await register(running, account)
    message_id = await send(running, account, "+33612345678")
    [item] = await _pulled(running, one["token"])
    other = await register(running, account)
    async with client(running) as c:
        r = await c.patch(
            "/message",
            json=_report(item["id"], "+33612345678", "Delivered"),
            headers=bearer(other["token"]),
        )
    assert r.status_code == 204
    await _status_becomes(running, account, message_id, "sent")


async def test_webhooks_and_settings(running: Running, account: Account) -> None:
    got = await register(running, account)
    async with client(running) as c:
        hooks = (await c.get("/webhooks", headers=bearer(got["token"]))).json()
        settings = (await c.get("/settings", headers=bearer(got["token"]))).json()
    assert hooks == [
        {
            "id": f"textgate-{got['id']}",
            "deviceId": got["id"],
            "url": f"{running.base_url}{PREFIX}/received/{got['id']}",
            "event": "sms:received",
        }
    ]
    assert set(settings) == {"webhooks", "gateway"}
    assert settings["gateway"] == {"notification_channel": "SSE_ONLY"}
    assert len(settings["webhooks"]["signing_key"]) >= 16
    assert "cloud_url" not in json.dumps(settings)


def _signed(key: str, body: bytes, stamp: int) -> dict[str, str]:
    signature = hmac.new(key.encode(), body + str(stamp).encode(), hashlib.sha256).hexdigest()
    return {"X-Timestamp": str(stamp), "X-Signature": signature, "Content-Type": "application/json"}


async def test_received_sms_need_a_good_signature(running: Running, account: Account) -> None:
    got = await register(running, account)
    async with client(running) as c:
        [hook] = (await c.get("/webhooks", headers=bearer(got["token"]))).json()
        key = (await c.get("/settings", headers=bearer(got["token"]))).json()["webhooks"][
            "signing_key"
        ]
        body = json.dumps(
            {
                "id": "evt1",
                "webhookId": hook["id"],
                "event": "sms:received",
                "deviceId": got["id"],
                "payload": {
                    "messageId": "1a2b3c4d",
                    "message": "Hi there",
                    "sender": "+33698765432",
                    "recipient": "+33600000002",
                    "simNumber": 2,
                    "phoneNumber": "+33600000002",
                    "receivedAt": "2026-01-01T10:00:00.000+03:00",
                },
            }
        ).encode()
        now = int(time.time())
        forged = await c.post(hook["url"], content=body, headers=_signed("guess", body, now))
        stale = await c.post(hook["url"], content=body, headers=_signed(key, body, now - 7200))
        unsigned = await c.post(hook["url"], content=body)
        garbled = await c.post(
            hook["url"],
            content=body,
            headers={"X-Timestamp": str(now), "X-Signature": "é".encode()},
        )
        good = await c.post(hook["url"], content=body, headers=_signed(key, body, now))
        again = await c.post(hook["url"], content=body, headers=_signed(key, body, now))
        other_event = body.replace(b'"sms:received"', b'"sms:sent"')
        ignored = await c.post(
            hook["url"], content=other_event, headers=_signed(key, other_event, now)
        )
    assert forged.status_code == stale.status_code == unsigned.status_code == 401
    assert garbled.status_code == 401
    assert good.status_code == again.status_code == ignored.status_code == 204
    async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as native:
        inbox = (await native.get("/v1/inbound", headers=account.auth)).json()["data"]
    [stored] = inbox
    assert stored["from"] == "+33698765432" and stored["to"] == "+33600000002"
    assert stored["text"] == "Hi there"
    assert stored["received_at"].startswith("2026-01-01T07:00:00")


def test_app_date_format_has_millis_and_zulu() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from textgate.core.devices import format_app_date, parse_app_date

    moment = datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=3)))
    assert format_app_date(moment) == "2026-01-01T07:00:00.123Z"
    assert parse_app_date("2026-01-01T10:00:01.123+03:00") == datetime(
        2026, 1, 1, 7, 0, 1, 123000, tzinfo=UTC
    )
    assert parse_app_date("nonsense") is None


def test_basic_header_shape() -> None:
    # What httpx sends for auth=(login, password) is what the app sends: Basic base64(l:p).
    assert base64.b64decode(httpx.BasicAuth("VQ4GII", "pw")._auth_header.split()[1]) == b"VQ4GII:pw"


async def test_change_password(running: Running, account: Account) -> None:
    got = await register(running, account)
    token = bearer(got["token"])
    async with client(running) as c:
        wrong = await c.patch(
            "/user/password",
            json={"currentPassword": "nope", "newPassword": "n" * 14},
            headers=token,
        )
        short = await c.patch(
            "/user/password",
            json={"currentPassword": got["password"], "newPassword": "short"},
            headers=token,
        )
        ok = await c.patch(
            "/user/password",
            json={"currentPassword": got["password"], "newPassword": "a new password!"},
            headers=token,
        )
        old_login = await c.post("/device", json=APP_BODY, auth=(got["login"], got["password"]))
        new_login = await c.post("/device", json=APP_BODY, auth=(got["login"], "a new password!"))
        code = await c.get("/user/code", auth=(got["login"], "a new password!"))
    assert (wrong.status_code, short.status_code, ok.status_code) == (401, 400, 204)
    assert old_login.status_code == 401 and new_login.status_code == 201
    # Sign-in codes are not offered; the vendor answers 501 when they are disabled.
    assert code.status_code == 501


async def test_sign_ins_are_throttled_after_ten_failures(
    running: Running, account: Account
) -> None:
    got = await register(running, account)
    async with client(running) as c:
        for _ in range(10):
            r = await c.post("/device", json=APP_BODY, auth=(got["login"], "wrong"))
            assert r.status_code == 401
        refused = await c.post("/device", json=APP_BODY, auth=(got["login"], got["password"]))
    assert refused.status_code == 429
