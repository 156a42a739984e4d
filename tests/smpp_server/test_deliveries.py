"""Receipts and inbound messages the SMPP server sends its customers as deliver_sm: what a
receipt says (Appendix B text, TLVs), which registered_delivery gets one, that a receipt
waits for a bind (across a restart), that one left unanswered comes again, and MO."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import smpplib.consts as c
from sqlalchemy import select

from tests.smpp_server.harness import (
    NUMBER,
    PASSWORD,
    SYSTEM_ID,
    Env,
    connected,
    smpp_gateway,
)
from tests.support import until
from textgate.config import InboundSettings, Settings, WebhookSettings
from textgate.connectors.smpp.constants import CommandStatus, MessageState
from textgate.connectors.smpp.pdus import (
    BindTransceiver,
    DeliverSm,
    DeliverSmResp,
    Pdu,
    SubmitSm,
)
from textgate.connectors.smpp.receipts import parse_receipt
from textgate.connectors.smpp.session import Session
from textgate.core.encoding import encode_gsm7, is_gsm7
from textgate.core.inbound import InboundMessage
from textgate.core.message import Status
from textgate.smpp_server.deliveries import SAME_IN_ASCII_AND_GSM, receipt_pdu
from textgate.storage.tables import smpp_deliveries

OK = c.SMPP_ESME_ROK
OURS = "+33700000001"
# The queue and the feed looked at often, retries soon: the tests wait for them.
FAST = {"deliver": {"poll_seconds": 0.05, "retry_base_seconds": 0.1, "retry_max_seconds": 0.3}}


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "webhooks": WebhookSettings(poll_seconds=0.05, settle_seconds=0.05),
            "inbound": InboundSettings(numbers={OURS: "acme"}),
        }
    )


async def rows(env: Env) -> list[Any]:
    """The account's queued deliver_sm, oldest first."""
    d = smpp_deliveries.c
    async with env.running.gateway.db.read() as conn:
        found = await conn.execute(
            select(d.kind, d.status, d.attempts, d.payload)
            .where(d.account_id == env.account_id)
            .order_by(d.id)
        )
        return list(found)


async def status_of(env: Env, message_id: str) -> Status:
    return (await env.services.messages.get(env.account_id, message_id)).status


async def test_a_receipt_for_a_delivered_message(fast: Settings) -> None:
    async with smpp_gateway(fast, smpp=FAST) as env:
        esme = await connected(env)
        assert (await esme.call("bind", "transceiver")).status == OK
        answer = await esme.call("submit", registered_delivery=1, short_message=b"hello there")
        assert answer.status == OK
        got = await esme.call("receive")
        assert got.esm_class == 0x04
        assert got.receipted_message_id == answer.message_id
        assert got.message_state == MessageState.DELIVERED
        # From the handset back to the sender the customer submitted with.
        assert (got.source_addr, got.destination_addr) == (NUMBER[1:], "ACME")
        receipt = parse_receipt(got.short_message.decode("ascii"))
        assert receipt is not None
        assert (receipt.message_id, receipt.stat, receipt.err) == (
            answer.message_id,
            "DELIVRD",
            "000",
        )
        assert (receipt.submitted, receipt.delivered, receipt.text) == (1, 1, "hello there")
        message = await env.services.messages.get(env.account_id, answer.message_id)
        assert message.receipt == "always"

        async def done() -> bool:
            return [(r.kind, r.status) for r in await rows(env)] == [("receipt", "delivered")]

        await until(done, "the receipt to be recorded as delivered")


async def test_registered_delivery_says_which_messages_get_one(fast: Settings) -> None:
    async with smpp_gateway(fast, smpp=FAST) as env:
        esme = await connected(env)
        assert (await esme.call("bind", "transceiver")).status == OK
        none = await esme.call("submit", registered_delivery=0)
        failures_only = await esme.call("submit", registered_delivery=2)
        scheduled = await esme.call(
            "submit", registered_delivery=2, schedule_delivery_time="991231235959000+"
        )

        async def delivered() -> bool:
            ids = (none.message_id, failures_only.message_id)
            return all([await status_of(env, i) == Status.DELIVERED for i in ids])

        await until(delivered, "both messages to be delivered")
        # A failure (cancelled before it was sent) after both deliveries: its receipt is
        # fed after their events, so once it arrives theirs would have been queued too.
        await env.services.messages.cancel_message(env.account_id, scheduled.message_id)
        got = await esme.call("receive")
        assert got.receipted_message_id == scheduled.message_id
        assert got.message_state == MessageState.DELETED
        receipt = parse_receipt(got.short_message.decode("ascii"))
        assert receipt is not None and (receipt.stat, receipt.delivered) == ("DELETED", 0)
        queued = await rows(env)
        assert [r.kind for r in queued] == ["receipt"]
        assert scheduled.message_id in queued[0].payload


async def test_a_receipt_waits_for_a_bind_also_across_a_restart(fast: Settings) -> None:
    async with smpp_gateway(fast, smpp=FAST) as env:
        esme = await connected(env)
        # A transmitter is sent nothing: the receipt waits in the queue.
        assert (await esme.call("bind", "transmitter")).status == OK
        answer = await esme.call("submit", registered_delivery=1)

        async def queued() -> bool:
            return [(r.status, r.attempts) for r in await rows(env)] == [("pending", 0)]

        await until(queued, "the receipt to be queued")
        assert await env.services.smpp_deliveries.pending(env.account_id) == 1
        await esme.call("close")
    async with smpp_gateway(fast, smpp=FAST, new_account=False) as env:
        esme = await connected(env)
        assert (await esme.call("bind", "receiver")).status == OK
        got = await esme.call("receive")
        assert got.receipted_message_id == answer.message_id
        assert got.message_state == MessageState.DELIVERED

        async def sent() -> bool:
            return await env.services.smpp_deliveries.pending(env.account_id) == 0

        await until(sent, "the receipt to be recorded as delivered")


class Silent:
    """An ESME on the engine's own Session that leaves its first deliver_sm unanswered."""

    def __init__(self) -> None:
        self.received: list[DeliverSm] = []

    async def handle(self, pdu: Pdu) -> Pdu | None:
        if not isinstance(pdu, DeliverSm):
            return None
        self.received.append(pdu)
        if len(self.received) == 1:
            return None
        return DeliverSmResp(sequence_number=pdu.sequence_number)


@pytest.fixture
async def silent_env(fast: Settings) -> AsyncIterator[Env]:
    async with smpp_gateway(fast, smpp=FAST | {"response_timeout_seconds": 0.3}) as env:
        yield env


async def test_an_unanswered_deliver_sm_is_sent_again(silent_env: Env) -> None:
    env = silent_env
    esme = Silent()
    reader, writer = await asyncio.open_connection("127.0.0.1", env.port)
    session = Session(reader, writer, handler=esme.handle, enquire_link_interval=None)
    try:
        bound = await session.request(
            BindTransceiver(sequence_number=0, system_id=SYSTEM_ID, password=PASSWORD)
        )
        assert bound.command_status == CommandStatus.ESME_ROK
        submit = SubmitSm(
            sequence_number=0,
            source_addr_ton=5,
            source_addr="ACME",
            dest_addr_ton=1,
            destination_addr=NUMBER[1:],
            registered_delivery=1,
            short_message=b"hello",
        )
        resp = await session.request(submit)
        assert resp.command_status == CommandStatus.ESME_ROK

        async def answered() -> bool:
            return [(r.status, r.attempts) for r in await rows(env)] == [("delivered", 2)]

        await until(answered, "the receipt to be sent again and answered")
        first, second = esme.received
        assert first.short_message == second.short_message
        assert first.tlvs == second.tlvs
    finally:
        await session.close()


async def test_inbound_messages_go_to_a_receiver_bind(fast: Settings) -> None:
    short = "Bonjour ☺"
    long = "A reply longer than one SMS can carry, so it goes whole. " * 4
    async with smpp_gateway(fast, smpp=FAST) as env:
        esme = await connected(env)
        assert (await esme.call("bind", "receiver")).status == OK
        sink = env.running.gateway.inbound
        assert sink is not None
        when = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
        await sink([InboundMessage("sim", NUMBER, OURS, short, when)])
        got = await esme.call("receive")
        assert (got.esm_class, got.source_addr, got.destination_addr) == (0, NUMBER[1:], OURS[1:])
        assert got.data_coding == 8
        assert got.short_message.decode("utf-16-be") == short
        await sink([InboundMessage("sim", NUMBER, OURS, long, when)])
        got = await esme.call("receive")
        assert got.data_coding == 0 and got.short_message == b""
        assert got.message_payload is not None
        # GSM 03.38 unpacked: these characters have their ASCII codes.
        assert got.message_payload.decode("ascii") == long

        async def done() -> bool:
            return [(r.kind, r.status) for r in await rows(env)] == [("inbound", "delivered")] * 2

        await until(done, "both to be recorded as delivered")


async def test_a_bind_that_closes_before_answering_gets_it_on_the_next(fast: Settings) -> None:
    async with smpp_gateway(fast, smpp=FAST) as env:
        esme = Silent()
        reader, writer = await asyncio.open_connection("127.0.0.1", env.port)
        session = Session(reader, writer, handler=esme.handle, enquire_link_interval=None)
        try:
            bind = BindTransceiver(sequence_number=0, system_id=SYSTEM_ID, password=PASSWORD)
            assert (await session.request(bind)).command_status == CommandStatus.ESME_ROK
            submit = SubmitSm(
                sequence_number=0,
                source_addr_ton=5,
                source_addr="ACME",
                dest_addr_ton=1,
                destination_addr=NUMBER[1:],
                registered_delivery=1,
                short_message=b"hello",
            )
            answer = await session.request(submit)
            await until(lambda: len(esme.received) == 1, "the receipt to be sent")
        finally:
            # Gone without answering it.
            await session.close()
        again = await connected(env)
        assert (await again.call("bind", "receiver")).status == OK
        got = await again.call("receive")
        assert got.receipted_message_id == answer.message_id

        async def answered() -> bool:
            return [(r.status, r.attempts) for r in await rows(env)] == [("delivered", 2)]

        await until(answered, "the receipt to be recorded as delivered")


def test_a_receipt_reads_alike_in_ascii_and_gsm() -> None:
    # The set is exactly the printable ASCII characters GSM 03.38 codes with the same octet.
    printable = (chr(o) for o in range(0x20, 0x7F))
    assert {ch for ch in printable if is_gsm7(ch) and encode_gsm7(ch) == ch.encode()} == (
        SAME_IN_ASCII_AND_GSM
    )
    pdu = receipt_pdu(
        {
            "message_id": "01KQ3ZJ0000000000000000000",
            "status": "delivered",
            "recipient": NUMBER,
            "sender": "ACME",
            "submitted_at": 0,
            "done_at": 0,
            "text": "a@b $5 _x_ {[ok]} £é",
        }
    )
    text = pdu.short_message.decode("ascii")
    assert text.endswith(" text:a?b ?5 ?x? ??ok?? ??")
    assert encode_gsm7(text) == pdu.short_message
