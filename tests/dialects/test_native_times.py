"""Times in the native API's answers have one shape, whole seconds included."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tests.support import Running, running_gateway, until
from textgate.config import Settings
from textgate.core.clock import system_clock

# RFC 3339 in UTC with six digits of fraction, every time.
_SHAPE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _on_whole_seconds() -> int:
    """The system clock with its milliseconds dropped: every time the gateway writes falls
    on a whole second, where the default serialisation left the fraction out."""
    return system_clock() // 1000 * 1000


@pytest.fixture
async def whole_seconds(settings: Settings) -> AsyncIterator[Running]:
    async with running_gateway(settings, clock=_on_whole_seconds) as running:
        yield running


async def test_times_on_a_whole_second_keep_their_fraction(whole_seconds: Running) -> None:
    accounts = whole_seconds.gateway.services.accounts
    account = await accounts.create("acme")
    auth = {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}
    client = whole_seconds.client

    sent = await client.post(
        "/v1/messages", json={"to": "+33612345678", "text": "hi"}, headers=auth
    )
    assert sent.status_code == 202, sent.text
    [message] = sent.json()["messages"]
    for field in ("created_at", "updated_at"):
        assert _SHAPE.match(message[field]), message[field]
    # The time written is the one stored, to the millisecond.
    stored = await whole_seconds.gateway.services.messages.get(account.id, message["id"])
    written = datetime.fromisoformat(message["created_at"].replace("Z", "+00:00"))
    assert written == stored.created_at.astimezone(UTC)
    assert written.microsecond == 0

    detail: dict[str, object] = {}

    async def delivered() -> bool:
        r = await client.get(f"/v1/messages/{message['id']}", headers=auth)
        detail.update(r.json())
        return detail["status"] == "delivered"

    await until(delivered, "the message delivered")
    times = [detail["created_at"], detail["updated_at"]]
    history = detail["history"]
    assert isinstance(history, list) and len(history) >= 2
    times += [event["at"] for event in history]
    for value in times:
        assert isinstance(value, str) and _SHAPE.match(value), value
    listed = await client.get("/v1/messages", headers=auth)
    for item in listed.json()["data"]:
        assert _SHAPE.match(item["created_at"]), item["created_at"]
