"""One textgate as a customer of another: gateway A's SMPP connector binds to gateway B's
SMPP server as a carrier link would. A message sent to A goes out on B's simulator; B's
receipt comes back to A as a deliver_sm and makes A's message delivered; a reply B receives
for the account's number reaches A's inbox.

A keeps its own SQLite file whatever database the suite runs on (B's): two gateways on one
database would dispatch each other's messages.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.smpp_server.harness import NUMBER, PASSWORD, SYSTEM_ID, smpp_gateway
from tests.support import Running, running_gateway, until
from textgate.config import (
    ConnectorSettings,
    DispatchSettings,
    InboundSettings,
    Settings,
    WebhookSettings,
)
from textgate.core.inbound import InboundMessage
from textgate.core.message import FINAL, Message, Status
from textgate.storage.inbound import InboundFilter

OURS = "+33700000001"
# B's queue of deliver_sm looked at often: the test waits for it.
FAST = {"deliver": {"poll_seconds": 0.05, "retry_base_seconds": 0.1, "retry_max_seconds": 0.3}}


@pytest.fixture
def b_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            # The receipts and inbound messages for SMPP customers come from the event feed.
            "webhooks": WebhookSettings(poll_seconds=0.05, settle_seconds=0.05),
            "inbound": InboundSettings(numbers={OURS: "acme"}),
        }
    )


def a_settings(settings: Settings, port: int) -> Settings:
    a_dir = settings.data_dir / "gateway-a"
    a_dir.mkdir()
    link = ConnectorSettings(
        name="gateway-b",
        type="smpp",
        options={
            "host": "127.0.0.1",
            "port": port,
            "system_id": SYSTEM_ID,
            "password": PASSWORD,
            "window": 10,
            "reconnect_initial": 0.05,
            "reconnect_max": 0.2,
        },
    )
    return settings.model_copy(
        update={
            "data_dir": a_dir,
            "database_url": f"sqlite+aiosqlite:///{a_dir / 'textgate.db'}",
            "connectors": [link],
            "inbound": InboundSettings(numbers={OURS: "client"}),
            "dispatch": DispatchSettings(retry_base_seconds=0.05, retry_max_seconds=0.3),
        }
    )


async def final(running: Running, account_id: str, message_id: str) -> Message:
    messages = running.gateway.services.messages
    found: Message | None = None

    async def done() -> bool:
        nonlocal found
        found = await messages.get(account_id, message_id)
        return found.status in FINAL

    await until(done, f"{message_id} to be final")
    assert found is not None
    return found


@pytest.mark.parametrize(
    "text, segments",
    [
        ("Your code is 4821", 1),
        ("Привет, три части в UCS-2 ☺ " + "д" * 120, 3),
    ],
    ids=["gsm", "long-ucs2"],
)
async def test_a_message_through_gateway_b_and_its_receipt_back_in_a(
    b_settings: Settings, text: str, segments: int
) -> None:
    async with (
        smpp_gateway(b_settings, smpp=FAST) as b,
        running_gateway(a_settings(b_settings, b.port)) as a,
    ):
        accounts = a.gateway.services.accounts
        client = await accounts.create("client")
        key = (await accounts.issue_key(client.id)).token
        r = await a.client.post(
            "/v1/messages",
            json={"to": NUMBER, "text": text, "from": "ACME"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 202, r.text
        sent = r.json()["messages"][0]
        assert sent["segments"] == segments

        in_a = await final(a, client.id, sent["id"])
        assert in_a.status == Status.DELIVERED, in_a
        assert in_a.connector == "gateway-b"
        # B stored it as one message (the parts reassembled), with A's text, and
        # delivered it on its simulator; A knows it by B's id.
        in_b = await b.messages()
        assert [(m.recipient, m.text, m.sender) for m in in_b] == [(NUMBER, text, "ACME")]
        assert in_b[0].status == Status.DELIVERED
        assert in_b[0].connector == "sim"
        assert in_a.external_id == in_b[0].id


async def test_a_reply_to_b_reaches_a(b_settings: Settings) -> None:
    async with (
        smpp_gateway(b_settings, smpp=FAST) as b,
        running_gateway(a_settings(b_settings, b.port)) as a,
    ):
        client = await a.gateway.services.accounts.create("client")

        async def bound() -> bool:
            return b.server.binds(b.account_id) == 1

        await until(bound, "gateway A to bind to B")
        sink = b.running.gateway.inbound
        assert sink is not None
        when = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
        await sink([InboundMessage("sim", NUMBER, OURS, "Oui, merci ☺", when)])
        inbox = a.gateway.services.inbound

        async def arrived() -> bool:
            return bool(await inbox.search(client.id, InboundFilter()))

        await until(arrived, "the reply to reach A's inbox")
        [got] = await inbox.search(client.id, InboundFilter())
        assert (got.sender, got.recipient, got.text) == (NUMBER, OURS, "Oui, merci ☺")
