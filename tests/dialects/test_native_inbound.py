"""GET /v1/inbound over the real server: what connectors hand to the inbound sink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.support import Running, running_gateway
from textgate.config import InboundSettings, Settings
from textgate.core.inbound import Concatenation, InboundMessage

OURS, THEIRS = "+33700000001", "+33700000002"


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[Running]:
    inbound = InboundSettings(numbers={OURS: "acme", THEIRS: "other"})
    async with running_gateway(settings.model_copy(update={"inbound": inbound})) as r:
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
    async with httpx.AsyncClient(base_url=running.base_url) as client:
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
