"""GET /v1/inbound over the real server: what connectors hand to the inbound sink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.support import HTTP_TIMEOUT, Running, ShiftedClock, running_gateway
from textgate.config import InboundSettings, Settings
from textgate.core.clock import from_ms
from textgate.core.inbound import Concatenation, InboundMessage

OURS, THEIRS = "+33700000001", "+33700000002"


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
async def running(settings: Settings, clock: ShiftedClock) -> AsyncIterator[Running]:
    inbound = InboundSettings(numbers={OURS: "acme", THEIRS: "other"})
    async with running_gateway(settings.model_copy(update={"inbound": inbound}), clock=clock) as r:
        yield r


async def _key(running: Running, name: str) -> dict[str, str]:
    accounts = running.gateway.services.accounts
    account = await accounts.create(name)
    return {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}


def mo(text: str, to: str, part: Concatenation | None = None) -> InboundMessage:
    return InboundMessage(
        connector="sim",
        sender="+33612345678",
        recipient=to,
        text=text,
        received_at=datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
        part=part,
    )


async def test_inbound_is_listed_for_the_owner_only(running: Running) -> None:
    acme, other = await _key(running, "acme"), await _key(running, "other")
    sink = running.gateway.inbound
    assert sink is not None
    await sink([mo("Bonjour ", OURS, Concatenation(5, 2, 1))])
    await sink([mo("Salut", THEIRS), mo("à tous 👋", OURS, Concatenation(5, 2, 2))])
    async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as client:
        r = await client.get("/v1/inbound", headers=acme)
        assert r.status_code == 200, r.text
        [item] = r.json()["data"]
        assert item["from"] == "+33612345678" and item["to"] == OURS
        assert item["text"] == "Bonjour à tous 👋"
        assert (item["parts"], item["complete"], item["read"]) == (2, True, False)
        one = await client.get(f"/v1/inbound/{item['id']}", headers=acme)
        assert one.status_code == 200 and one.json() == item
        # Another account sees only its own, and not acme's by id.
        [theirs] = (await client.get("/v1/inbound", headers=other)).json()["data"]
        assert theirs["text"] == "Salut"
        missing = await client.get(f"/v1/inbound/{item['id']}", headers=other)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        # Filters: sender (a '+' sent unencoded arrives as a space), paging.
        r = await client.get("/v1/inbound?from=+33612345678&limit=1", headers=other)
        assert [m["text"] for m in r.json()["data"]] == ["Salut"]
        assert (await client.get("/v1/inbound?from=%2B33600000000", headers=other)).json()[
            "data"
        ] == []
        assert (await client.get("/v1/inbound", headers={})).status_code == 401
        bad = await client.get("/v1/inbound?cursor=nope", headers=acme)
        assert bad.status_code == 400


async def test_read_alias_delete_and_unread_filter(running: Running) -> None:
    acme = await _key(running, "acme")
    sink = running.gateway.inbound
    assert sink is not None
    await sink([mo("one", OURS), mo("two", OURS)])
    client = running.client
    two, one = (await client.get("/v1/inbound", headers=acme)).json()["data"]
    r = await client.patch(
        f"/v1/inbound/{one['id']}", json={"read": True, "alias": "Mum"}, headers=acme
    )
    assert r.status_code == 200, r.text
    assert (r.json()["read"], r.json()["alias"]) == (True, "Mum")
    unread = (await client.get("/v1/inbound?unread=true", headers=acme)).json()["data"]
    assert [m["text"] for m in unread] == ["two"]
    r = await client.patch(f"/v1/inbound/{one['id']}", json={"alias": ""}, headers=acme)
    assert r.json()["alias"] is None and r.json()["read"] is True  # read left as it was
    bad = await client.patch(f"/v1/inbound/{one['id']}", json={"colour": "red"}, headers=acme)
    assert bad.status_code == 400
    other = await _key(running, "other")
    assert (await client.delete(f"/v1/inbound/{two['id']}", headers=other)).status_code == 404
    assert (await client.delete(f"/v1/inbound/{two['id']}", headers=acme)).status_code == 204
    assert (await client.get(f"/v1/inbound/{two['id']}", headers=acme)).status_code == 404
    left = (await client.get("/v1/inbound", headers=acme)).json()["data"]
    assert [m["text"] for m in left] == ["one"]


async def test_conversations_interleave_both_directions_in_order(
    running: Running, clock: ShiftedClock
) -> None:
    acme = await _key(running, "acme")
    sink = running.gateway.inbound
    assert sink is not None
    client = running.client
    alice, bob = "+33612345678", "+33698765432"

    async def out(to: str, text: str) -> None:
        r = await client.post("/v1/messages", json={"to": to, "text": text}, headers=acme)
        assert r.status_code == 202, r.text
        clock.advance(0.005)  # distinct millisecond timestamps: a defined order

    async def back(sender: str, text: str) -> None:
        await sink([InboundMessage("sim", sender, OURS, text, from_ms(clock()))])
        clock.advance(0.005)

    await out(alice, "Hi Alice")
    await back(alice, "Hi!")
    await out(bob, "Hi Bob")
    await out(alice, "Lunch?")
    await back(alice, "Yes")
    await back(bob, "Who is this?")

    threads = (await client.get("/v1/conversations", headers=acme)).json()["data"]
    assert [t["number"] for t in threads] == [bob, alice]  # most recently active first
    assert threads[0]["last"]["text"] == "Who is this?" and threads[0]["unread"] == 1
    assert (threads[1]["messages"], threads[1]["unread"]) == (4, 2)
    convo = (await client.get(f"/v1/conversations/{alice}", headers=acme)).json()
    assert convo["number"] == alice
    assert [(i["direction"], i["text"]) for i in convo["data"]] == [
        ("in", "Yes"),
        ("out", "Lunch?"),
        ("in", "Hi!"),
        ("out", "Hi Alice"),
    ]
    assert convo["data"][1]["status"] in {"queued", "sending", "sent", "delivered"}
    limited = await client.get(f"/v1/conversations/{alice[1:]}?limit=2", headers=acme)
    assert [i["text"] for i in limited.json()["data"]] == ["Yes", "Lunch?"]
    # Another account sees none of it.
    other = await _key(running, "other")
    assert (await client.get("/v1/conversations", headers=other)).json()["data"] == []
