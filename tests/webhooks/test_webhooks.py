"""Webhooks end to end: a real gateway posting to a real receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support import HTTP_TIMEOUT, Running, running_gateway, until
from tests.webhooks.receiver import Receiver, running_receiver
from textgate.config import InboundSettings, Settings, WebhookSettings
from textgate.core.webhooks import verify
from textgate.storage.txn import Query, Txn

SECRET = "s3cret-for-signing-0123456789"
FAST = WebhookSettings(
    allow_private_targets=True,
    poll_seconds=0.05,
    retry_base_seconds=0.05,
    retry_max_seconds=0.3,
    settle_seconds=0.05,
    timeout_seconds=HTTP_TIMEOUT,
    batch_size=500,
    concurrency=32,
)
OURS = "+33700000001"


def _numbers(n: int) -> list[str]:
    return [f"+336{i:08d}" for i in range(n)]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r


async def _start(settings: Settings, hooks: WebhookSettings) -> Any:
    inbound = InboundSettings(numbers={OURS: "acme"})
    return running_gateway(settings.model_copy(update={"webhooks": hooks, "inbound": inbound}))


async def _account(running: Running, name: str = "acme") -> dict[str, str]:
    accounts = running.gateway.services.accounts
    account = await accounts.create(name)
    return {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}


async def _subscribe(running: Running, auth: dict[str, str], url: str, events: list[str]) -> str:
    r = await running.client.post(
        "/v1/webhooks", json={"url": url, "events": events, "secret": SECRET}, headers=auth
    )
    assert r.status_code == 201, r.text
    assert r.json()["secret"] == SECRET
    webhook_id: str = r.json()["id"]
    return webhook_id


async def _expected_events(running: Running) -> dict[str, str]:
    """Event id -> status, for every message event row (what must be delivered)."""

    def txn() -> Txn[dict[str, str]]:
        rows = yield Query("SELECT id, status FROM message_events")
        return {f"evt_msg_{r['id']}": r["status"] for r in rows or ()}

    return await running.gateway.db.txn(txn)


async def _count(running: Running, sql: str, params: tuple[Any, ...] = ()) -> int:
    def txn() -> Txn[int]:
        rows = yield Query(sql, params)
        assert rows
        return int(rows[0][0])

    return await running.gateway.db.txn(txn)


def _check_signatures(receiver: Receiver) -> None:
    for hit in receiver.hits:
        ts = int(hit.headers["textgate-timestamp"])
        assert verify(SECRET, ts, hit.body, hit.headers["textgate-signature"])
        assert not verify(
            "another-secret-entirely", ts, hit.body, hit.headers["textgate-signature"]
        )
        assert hit.event["id"] == hit.event_id


async def test_every_status_change_of_1000_messages_is_delivered(
    settings: Settings, receiver: Receiver
) -> None:
    async with await _start(settings, FAST) as running:
        auth = await _account(running)
        await _subscribe(running, auth, receiver.url, ["message.*"])
        r = await running.client.post(
            "/v1/messages", json={"to": _numbers(1000), "text": "hello"}, headers=auth
        )
        assert r.status_code == 202, r.text
        delivered = "SELECT COUNT(*) FROM messages WHERE status = 'delivered'"
        await until(lambda: _done(running, delivered, 1000), timeout=120)
        expected = await _expected_events(running)
        statuses_per_message = len(expected) // 1000
        assert len(expected) == 1000 * statuses_per_message and statuses_per_message >= 3
        await until(lambda: len(receiver.accepted()) >= len(expected), timeout=120)
        accepted = receiver.accepted()
        assert set(accepted) == set(expected)
        for event_id, hit in accepted.items():
            assert hit.event["type"] == f"message.{expected[event_id]}"
        # At least once: a repeat (none expected here) must be the same event, same body.
        for hit in receiver.hits:
            assert hit.body == accepted[hit.event_id].body
        _check_signatures(receiver)
        # The receiver answers before the gateway records the outcome: wait for the record.
        recorded = "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'"
        await until(lambda: _done(running, recorded, len(expected)))
        assert await _count(running, "SELECT COUNT(*) FROM webhook_deliveries") == len(expected)


async def _done(running: Running, sql: str, want: int) -> bool:
    return await _count(running, sql) >= want


async def test_a_receiver_that_was_down_gets_everything_after_recovery(
    settings: Settings, receiver: Receiver
) -> None:
    receiver.answer = 500
    async with await _start(settings, FAST) as running:
        auth = await _account(running)
        webhook_id = await _subscribe(running, auth, receiver.url, ["*"])
        r = await running.client.post(
            "/v1/messages", json={"to": _numbers(50), "text": "hi"}, headers=auth
        )
        assert r.status_code == 202
        delivered = "SELECT COUNT(*) FROM messages WHERE status = 'delivered'"
        await until(lambda: _done(running, delivered, 50))
        expected = await _expected_events(running)
        # Down long enough that every event was refused at least twice.
        await until(
            lambda: all(sum(1 for h in receiver.hits if h.event_id == e) >= 2 for e in expected)
        )
        assert not receiver.accepted()
        receiver.answer = 200
        await until(lambda: set(receiver.accepted()) == set(expected))
        assert {h.event_id for h in receiver.hits} == set(expected)
        for hit in receiver.hits:
            assert hit.body == receiver.accepted()[hit.event_id].body
        _check_signatures(receiver)
        recorded = "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'"
        await until(lambda: _done(running, recorded, len(expected)))
        page = await running.client.get(
            f"/v1/webhooks/{webhook_id}/deliveries", params={"limit": 1000}, headers=auth
        )
        items = page.json()["data"]
        assert len(items) == len(expected)
        assert all(d["status"] == "delivered" and d["attempts"] >= 3 for d in items)


async def test_dead_letter_after_the_limit_then_replay(
    settings: Settings, receiver: Receiver
) -> None:
    receiver.answer = 503
    hooks = FAST.model_copy(update={"max_attempts": 3})
    async with await _start(settings, hooks) as running:
        auth = await _account(running)
        webhook_id = await _subscribe(running, auth, receiver.url, ["message.delivered"])
        r = await running.client.post(
            "/v1/messages", json={"to": _numbers(2), "text": "hi"}, headers=auth
        )
        assert r.status_code == 202
        path = f"/v1/webhooks/{webhook_id}/deliveries"

        async def dead() -> list[dict[str, Any]]:
            got = await running.client.get(path, params={"status": "dead"}, headers=auth)
            assert got.status_code == 200, got.text
            items: list[dict[str, Any]] = got.json()["data"]
            return items

        await until(lambda: _len_is(dead(), 2))
        items = await dead()
        assert all(d["attempts"] == 3 and d["last_error"] == "HTTP 503" for d in items)
        assert all(d["event_type"] == "message.delivered" for d in items)
        assert len(receiver.hits) == 6
        assert {h.event_id for h in receiver.hits} == {d["event_id"] for d in items}
        receiver.answer = 200
        for d in items:
            again = await running.client.post(
                f"/v1/webhooks/deliveries/{d['id']}/retry", headers=auth
            )
            assert again.status_code == 202, again.text
            assert again.json()["status"] == "pending"
        await until(lambda: len(receiver.accepted()) == 2)
        assert set(receiver.accepted()) == {d["event_id"] for d in items}
        assert await dead() == []
        missing = await running.client.post("/v1/webhooks/deliveries/nope/retry", headers=auth)
        assert missing.status_code == 404
        _check_signatures(receiver)


async def _len_is(items: Any, n: int) -> bool:
    return len(await items) == n


async def test_inbound_messages_are_delivered(settings: Settings, receiver: Receiver) -> None:
    from datetime import UTC, datetime

    from textgate.core.inbound import InboundMessage

    async with await _start(settings, FAST) as running:
        auth = await _account(running)
        await _subscribe(running, auth, receiver.url, ["inbound.received"])
        sink = running.gateway.inbound
        assert sink is not None
        when = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
        await sink([InboundMessage("sim", "+33612345678", OURS, "Bonjour", when)])
        await until(lambda: len(receiver.accepted()) == 1)
        [hit] = receiver.accepted().values()
        assert hit.event["type"] == "inbound.received"
        assert hit.event["data"]["text"] == "Bonjour"
        assert hit.event["data"]["from"] == "+33612345678"
        assert hit.event_id == f"evt_in_{hit.event['data']['inbound_id']}"
        _check_signatures(receiver)


async def test_subscriptions_api_and_url_refusal(settings: Settings) -> None:
    strict = FAST.model_copy(update={"allow_private_targets": False})
    async with await _start(settings, strict) as running:
        auth = await _account(running)
        for url in (
            "http://127.0.0.1:9/hook",
            "http://[::1]/hook",
            "http://10.1.2.3/x",
            "http://169.254.169.254/latest",
            "http://localhost/x",
            "ftp://example.org/x",
            "not a url",
        ):
            r = await running.client.post(
                "/v1/webhooks", json={"url": url, "events": ["*"]}, headers=auth
            )
            assert r.status_code == 400, (url, r.text)
            assert r.json()["error"]["code"] == "invalid_request"
        bad = await running.client.post(
            "/v1/webhooks", json={"url": "http://10.0.0.1/", "events": ["nope"]}, headers=auth
        )
        assert bad.status_code == 400 and "events" in bad.json()["error"]["message"]
        unauth = await running.client.get("/v1/webhooks")
        assert unauth.status_code == 401
        # Nothing refused was stored.
        assert (await running.client.get("/v1/webhooks", headers=auth)).json()["data"] == []
    async with await _start(settings, FAST) as running:
        auth = await _account(running, "beta")
        created = await running.client.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "events": ["*"]}, headers=auth
        )
        assert created.status_code == 201
        body = created.json()
        assert body["secret"].startswith("whsec_")
        listed = (await running.client.get("/v1/webhooks", headers=auth)).json()["data"]
        assert [w["id"] for w in listed] == [body["id"]]
        assert "secret" not in listed[0]
        one = await running.client.get(f"/v1/webhooks/{body['id']}", headers=auth)
        assert one.status_code == 200 and "secret" not in one.json()
        gone = await running.client.delete(f"/v1/webhooks/{body['id']}", headers=auth)
        assert gone.status_code == 204
        again = await running.client.delete(f"/v1/webhooks/{body['id']}", headers=auth)
        assert again.status_code == 404
        assert (await running.client.get("/v1/webhooks", headers=auth)).json()["data"] == []
