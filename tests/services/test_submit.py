"""The submit path: idempotency, group commit, cancellation, listing."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support import Running, ShiftedClock, running_gateway, until
from textgate.config import Settings
from textgate.core.clock import from_ms
from textgate.core.message import Status
from textgate.core.policy import Reason
from textgate.errors import NotFound, PolicyDenied
from textgate.runtime import Gateway
from textgate.services.devices import RegistrationAuth
from textgate.services.query import MessageFilter
from textgate.services.submit import SubmitRequest

FR = "+33612345678"

NUMBERS = [f"+3361234{i:04d}" for i in range(300)]


async def _count_orders(running: Running, account_id: str) -> int:
    msgs = await running.gateway.services.messages.search(
        account_id,
        MessageFilter(),
        limit=1000,
    )
    return len({m.order_id for m in msgs})


async def test_idempotency_key_returns_the_original_order(
    gateway: Running, auth: dict[str, str], api_key: str
) -> None:
    headers = {**auth, "Idempotency-Key": "order-42"}
    body = {"to": ["+33612345678", "+33698765432"], "text": "once"}
    first = await gateway.client.post("/v1/messages", json=body, headers=headers)
    again = await gateway.client.post("/v1/messages", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["order_id"] == first.json()["order_id"]
    assert [m["id"] for m in again.json()["messages"]] == sorted(
        m["id"] for m in first.json()["messages"]
    )
    account = await gateway.gateway.services.accounts.authenticate(api_key)
    assert await _count_orders(gateway, account.id) == 1


async def test_concurrent_requests_with_one_key_make_one_order(
    gateway: Running, auth: dict[str, str], api_key: str
) -> None:
    headers = {**auth, "Idempotency-Key": "same"}
    body = {"to": NUMBERS[:3], "text": "x"}
    rs = await asyncio.gather(
        *(gateway.client.post("/v1/messages", json=body, headers=headers) for _ in range(30))
    )
    assert {r.status_code for r in rs} == {202}
    assert len({r.json()["order_id"] for r in rs}) == 1
    account = await gateway.gateway.services.accounts.authenticate(api_key)
    assert await _count_orders(gateway, account.id) == 1


@pytest.mark.parametrize(
    "second",
    [
        {"to": ["+33612345678"], "text": "delivered"},
        {"to": ["+33612345678", "+33698765432"], "text": "shipped"},
    ],
    ids=["another text", "other recipients"],
)
async def test_a_key_reused_for_another_message_is_refused(
    gateway: Running, auth: dict[str, str], api_key: str, second: dict[str, object]
) -> None:
    """Answering the first order would drop the second message silently: the IETF
    Idempotency-Key draft answers 422."""
    headers = {**auth, "Idempotency-Key": "notice-7"}
    first = await gateway.client.post(
        "/v1/messages", json={"to": ["+33612345678"], "text": "shipped"}, headers=headers
    )
    assert first.status_code == 202, first.text
    again = await gateway.client.post("/v1/messages", json=second, headers=headers)
    assert again.status_code == 422, again.text
    assert again.json()["error"]["code"] == "idempotency_key_reused"
    account = await gateway.gateway.services.accounts.authenticate(api_key)
    msgs = await gateway.gateway.services.messages.search(account.id, MessageFilter())
    assert [(m.recipient, m.text) for m in msgs] == [("+33612345678", "shipped")]


async def test_keys_are_scoped_to_the_account(gateway: Running, auth: dict[str, str]) -> None:
    accounts = gateway.gateway.services.accounts
    other = await accounts.create("other")
    other_key = (await accounts.issue_key(other.id)).token
    body = {"to": "+33612345678", "text": "x"}
    a = await gateway.client.post(
        "/v1/messages", json=body, headers={**auth, "Idempotency-Key": "k"}
    )
    b = await gateway.client.post(
        "/v1/messages",
        json=body,
        headers={"Authorization": f"Bearer {other_key}", "Idempotency-Key": "k"},
    )
    assert a.json()["order_id"] != b.json()["order_id"]


async def test_concurrent_submits_share_commits(gateway: Running, api_key: str) -> None:
    services = gateway.gateway.services
    account = await services.accounts.authenticate(api_key)
    writer = gateway.gateway.writer
    before = writer.batches
    results = await asyncio.gather(
        *(
            services.submit.submit(SubmitRequest(account=account, recipients=[n], text="g"))
            for n in NUMBERS[:200]
        )
    )
    assert len({r.order_id for r in results}) == 200
    # 200 submits, far fewer transactions: they were grouped.
    assert writer.batches - before < 50
    stored = await services.messages.search(
        account.id,
        MessageFilter(),
        limit=1000,
    )
    assert len(stored) == 200


async def test_cancel_scheduled_message_and_order(gateway: Running, auth: dict[str, str]) -> None:
    body = {
        "to": ["+33612345678", "+33698765432"],
        "text": "later",
        "schedule_at": "2999-01-01T00:00:00+00:00",
    }
    sent = (await gateway.client.post("/v1/messages", json=body, headers=auth)).json()
    first, second = (m["id"] for m in sent["messages"])
    r = await gateway.client.delete(f"/v1/messages/{first}", headers=auth)
    assert r.status_code == 200 and r.json() == {"cancelled": [first]}
    r = await gateway.client.delete(f"/v1/orders/{sent['order_id']}", headers=auth)
    assert r.json() == {"cancelled": [second]}
    detail = (await gateway.client.get(f"/v1/messages/{second}", headers=auth)).json()
    assert detail["status"] == "cancelled"
    assert [e["status"] for e in detail["history"]] == ["scheduled", "cancelled"]
    again = await gateway.client.delete(f"/v1/orders/{sent['order_id']}", headers=auth)
    assert again.status_code == 409
    missing = await gateway.client.delete("/v1/orders/01M808BYXYSPR1BQ468QW43ST0", headers=auth)
    assert missing.status_code == 404


async def test_cancel_after_sending_is_refused(gateway: Running, auth: dict[str, str]) -> None:
    sent = (
        await gateway.client.post(
            "/v1/messages", json={"to": "+33612345678", "text": "now"}, headers=auth
        )
    ).json()
    mid = sent["messages"][0]["id"]
    await _wait_status(gateway.client, auth, mid, {"delivered"})
    r = await gateway.client.delete(f"/v1/messages/{mid}", headers=auth)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict"


async def test_scheduled_message_leaves_at_its_time(gateway: Running, auth: dict[str, str]) -> None:
    from datetime import UTC, datetime, timedelta

    at = datetime.now(UTC) + timedelta(seconds=1.5)
    sent = (
        await gateway.client.post(
            "/v1/messages",
            json={"to": "+33612345678", "text": "timed", "schedule_at": at.isoformat()},
            headers=auth,
        )
    ).json()
    mid = sent["messages"][0]["id"]
    assert sent["messages"][0]["status"] == "scheduled"
    detail = await _wait_status(gateway.client, auth, mid, {"delivered"})
    sending = next(e for e in detail["history"] if e["status"] == "sending")
    left = datetime.fromisoformat(sending["at"])
    # The dispatcher's own timestamps: not before its time, and within a second of it.
    assert at - timedelta(milliseconds=5) <= left <= at + timedelta(seconds=1)


async def test_list_filters_and_cursor(gateway: Running, auth: dict[str, str]) -> None:
    for n in NUMBERS[:7]:
        await gateway.client.post("/v1/messages", json={"to": n, "text": "p"}, headers=auth)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await gateway.client.get("/v1/messages", params=params, headers=auth)).json()
        seen += [m["id"] for m in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7 and seen == sorted(seen, reverse=True)
    one = (await gateway.client.get("/v1/messages", params={"to": NUMBERS[3]}, headers=auth)).json()
    assert [m["to"] for m in one["data"]] == [NUMBERS[3]]
    bad = await gateway.client.get("/v1/messages", params={"status": "bogus"}, headers=auth)
    assert bad.status_code == 400
    none = (
        await gateway.client.get("/v1/messages", params={"status": "failed"}, headers=auth)
    ).json()
    assert none["data"] == []


async def test_api_key_secret_is_not_stored(gateway: Running, api_key: str) -> None:
    from sqlalchemy import select

    from textgate.storage.tables import api_keys

    secret = api_key.split("_", 2)[2]
    async with gateway.gateway.db.read() as conn:
        rows = (await conn.execute(select(api_keys))).all()
    assert rows and all(secret not in str(tuple(r)) for r in rows)


async def _wait_status(
    client: httpx.AsyncClient, auth: dict[str, str], mid: str, want: set[str]
) -> dict[str, object]:
    detail: dict[str, object] = {}

    async def reached() -> bool:
        nonlocal detail
        detail = (await client.get(f"/v1/messages/{mid}", headers=auth)).json()
        return detail["status"] in want

    await until(reached, f"{mid} to reach {want}")
    return detail


def test_status_values_are_the_designed_ones() -> None:
    assert {s.value for s in Status} == {
        "scheduled",
        "queued",
        "sending",
        "sent",
        "buffered",
        "delivered",
        "undelivered",
        "failed",
        "expired",
        "cancelled",
        "rejected",
        "received",
    }


async def test_an_idempotency_key_expires_after_24_hours(settings: Settings) -> None:
    now = [1_800_000_000_000]
    gw = Gateway(settings, clock=lambda: now[0])
    await gw.start(dispatch=False, migrate=True)
    try:
        account = await gw.services.accounts.create("clocked")
        req = SubmitRequest(
            account=account, recipients=["+33612345678"], text="x", idempotency_key="daily"
        )
        first = await gw.services.submit.submit(req)
        now[0] += 23 * 3600 * 1000
        same = await gw.services.submit.submit(req)
        now[0] += 2 * 3600 * 1000
        later = await gw.services.submit.submit(req)
    finally:
        await gw.stop()
    assert same.replayed and same.order_id == first.order_id
    assert not later.replayed and later.order_id != first.order_id


async def test_list_by_order_and_time_window(settings: Settings) -> None:
    from datetime import timedelta

    clock = ShiftedClock()
    async with running_gateway(settings, clock=clock) as gateway:
        accounts = gateway.gateway.services.accounts
        account = await accounts.create("acme")
        auth = {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}
        a = (
            await gateway.client.post(
                "/v1/messages", json={"to": NUMBERS[:2], "text": "a"}, headers=auth
            )
        ).json()
        clock.advance(1)  # a clear window between the two orders, by the gateway's own time
        middle = from_ms(clock())
        clock.advance(1)
        b = (
            await gateway.client.post(
                "/v1/messages", json={"to": NUMBERS[2], "text": "b"}, headers=auth
            )
        ).json()
        by_order = (
            await gateway.client.get("/v1/messages", params={"order": a["order_id"]}, headers=auth)
        ).json()
        assert {m["to"] for m in by_order["data"]} == set(NUMBERS[:2])
        since = (
            await gateway.client.get(
                "/v1/messages", params={"since": middle.isoformat()}, headers=auth
            )
        ).json()
        assert [m["order_id"] for m in since["data"]] == [b["order_id"]]
        before = (
            await gateway.client.get(
                "/v1/messages", params={"until": middle.isoformat()}, headers=auth
            )
        ).json()
        assert {m["order_id"] for m in before["data"]} == {a["order_id"]}
        future = (middle + timedelta(days=1)).isoformat()
        empty = (
            await gateway.client.get("/v1/messages", params={"since": future}, headers=auth)
        ).json()
        assert empty["data"] == []
        order = await gateway.client.get(f"/v1/orders/{a['order_id']}", headers=auth)
        assert order.status_code == 200 and len(order.json()["data"]) == 2


async def test_an_allowlist_refuses_a_request_whose_address_is_unknown(gateway: Running) -> None:
    """What the dashboard passes when its server gives no peer address: refused (fails
    closed), nothing stored; only the operator's local interface (the CLI) is not covered."""
    services = gateway.gateway.services
    account = await services.accounts.create("fenced")
    account = await services.accounts.update_settings(account.id, {"allowed_ips": ["10.0.0.0/8"]})
    for unknown in (None, ""):
        request = SubmitRequest(
            account=account, recipients=["+33612345678"], text="x", client_ip=unknown
        )
        try:
            await services.submit.submit(request)
        except PolicyDenied as exc:
            assert exc.reason == Reason.IP_NOT_ALLOWED
        else:
            raise AssertionError("submitted without a known address")
    assert await _count_orders(gateway, account.id) == 0
    local = SubmitRequest(account=account, recipients=["+33612345678"], text="x", operator=True)
    assert (await services.submit.submit(local)).accepted == 1


async def test_a_number_given_twice_is_one_recipient_and_counts_once(gateway: Running) -> None:
    services = gateway.gateway.services
    account = await services.accounts.create("twice")
    account = await services.accounts.update_settings(account.id, {"batch_limit": 2})
    result = await services.submit.submit(
        SubmitRequest(
            account=account,
            recipients=["+33612345678", "+33 6 12 34 56 78", "0033612345678", "+33698765432"],
            text="x",
            references=["a", "b", "c", "d"],
            client_ip="127.0.0.1",
        )
    )
    assert [(m.recipient, m.client_ref) for m in result.messages] == [
        ("+33612345678", "a"),
        ("+33698765432", "d"),
    ]


async def test_a_phone_the_request_names_must_be_the_accounts(gateway: Running) -> None:
    """Whatever interface carries it: another account's phone, or none, refuses the request
    and nothing is stored; the account's own is taken."""
    services = gateway.gateway.services
    mine = await services.accounts.create("acme")
    other = await services.accounts.create("other")
    key = (await services.accounts.issue_key(other.id)).token
    theirs = await services.devices.register(
        RegistrationAuth(private_token=key), "their phone", push_token=None, sim_cards=()
    )
    for device_id in (theirs.device.id, "no-such-phone"):
        with pytest.raises(NotFound):
            await services.submit.submit(
                SubmitRequest(
                    account=mine, recipients=["+33612345678"], text="hi", device_id=device_id
                )
            )
    assert await services.messages.search(mine.id, MessageFilter()) == []
    key = (await services.accounts.issue_key(mine.id)).token
    own = await services.devices.register(
        RegistrationAuth(private_token=key), "my phone", push_token=None, sim_cards=()
    )
    await services.submit.submit(
        SubmitRequest(account=mine, recipients=[FR], text="hi", device_id=own.device.id)
    )
    assert len(await services.messages.search(mine.id, MessageFilter())) == 1
