"""SmppConnector: mobile-originated deliver_sm handed to the inbound sink before the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from tests.connectors.smpp.peer import FakeSmsc
from tests.connectors.smpp.test_connector import Sink, make, sink, smsc
from textgate.connectors.base import Concatenation, InboundMessage
from textgate.connectors.smpp.connector import SmppConnector
from textgate.connectors.smpp.constants import CommandStatus, Tag
from textgate.connectors.smpp.pdus import NO_TLVS, DeliverSm
from textgate.connectors.smpp.tlv import Tlvs
from textgate.core.encoding import concat_udh, encode_gsm7
from textgate.core.inbound import join_parts

__all__ = ["sink", "smsc"]  # fixtures shared with test_connector

_S = CommandStatus


class Inbox:
    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.fail = False

    async def __call__(self, messages: Sequence[InboundMessage]) -> None:
        if self.fail:
            raise RuntimeError("database down")
        self.messages.extend(messages)


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
async def conn(smsc: FakeSmsc, sink: Sink, inbox: Inbox) -> AsyncIterator[SmppConnector]:
    connector = make(smsc)
    await connector.start(sink, inbox)
    try:
        yield connector
    finally:
        await connector.stop()


def mo(
    short_message: bytes,
    *,
    data_coding: int = 0,
    esm_class: int = 0,
    tlvs: Tlvs = NO_TLVS,
    source: tuple[str, int] = ("4915123456", 1),
    dest: tuple[str, int] = ("4930555", 1),
) -> DeliverSm:
    return DeliverSm(
        sequence_number=0,
        source_addr=source[0],
        source_addr_ton=source[1],
        source_addr_npi=1,
        destination_addr=dest[0],
        dest_addr_ton=dest[1],
        dest_addr_npi=1,
        esm_class=esm_class,
        data_coding=data_coding,
        short_message=short_message,
        tlvs=tlvs,
    )


async def test_single_gsm_message(conn: SmppConnector, smsc: FakeSmsc, inbox: Inbox) -> None:
    resp = await smsc.push(mo(encode_gsm7("Hi @ 5€ {ok}")))
    assert resp.command_status == _S.ESME_ROK
    [message] = inbox.messages
    assert message.connector == "smpp1"
    assert (message.sender, message.recipient) == ("+4915123456", "+4930555")
    assert message.text == "Hi @ 5€ {ok}"
    assert message.part is None and message.received_at.tzinfo is not None


async def test_addresses_other_than_international_are_kept(
    conn: SmppConnector, smsc: FakeSmsc, inbox: Inbox
) -> None:
    await smsc.push(mo(b"hi", source=("ACME", 5), dest=("1234", 0)))
    [message] = inbox.messages
    assert (message.sender, message.recipient) == ("ACME", "1234")


async def test_ucs2_with_emoji(conn: SmppConnector, smsc: FakeSmsc, inbox: Inbox) -> None:
    text = "Grüße 😀 Жжж"
    resp = await smsc.push(mo(text.encode("utf-16-be"), data_coding=8))
    assert resp.command_status == _S.ESME_ROK
    assert [m.text for m in inbox.messages] == [text]


@pytest.mark.parametrize(("coding", "data"), [(1, b"plain ascii"), (3, "Grüße".encode("latin-1"))])
async def test_ia5_and_latin1(
    conn: SmppConnector, smsc: FakeSmsc, inbox: Inbox, coding: int, data: bytes
) -> None:
    await smsc.push(mo(data, data_coding=coding))
    assert [m.text for m in inbox.messages] == [data.decode("latin-1")]


@pytest.mark.parametrize(("alphabet", "text"), [("gsm7", "Price ¤5 @"), ("latin1", "Price $5 \0")])
async def test_default_alphabet_option(
    smsc: FakeSmsc, sink: Sink, inbox: Inbox, alphabet: str, text: str
) -> None:
    conn = make(smsc, default_alphabet=alphabet)
    await conn.start(sink, inbox)
    try:
        await smsc.push(mo(b"Price $5 \x00"))  # GSM-7 0x24 is '¤' and 0x00 is '@'
    finally:
        await conn.stop()
    assert [m.text for m in inbox.messages] == [text]


@pytest.mark.parametrize("ref16", [False, True])
async def test_udh_parts(conn: SmppConnector, smsc: FakeSmsc, inbox: Inbox, ref16: bool) -> None:
    ref = 0x1234 if ref16 else 0x42
    chunks = ["first part, ", "second part"]
    for seq, chunk in enumerate(chunks, 1):
        udh = concat_udh(ref, 2, seq, ref16=ref16)
        resp = await smsc.push(mo(udh + encode_gsm7(chunk), esm_class=0x40))
        assert resp.command_status == _S.ESME_ROK
    assert [m.part for m in inbox.messages] == [
        Concatenation(ref, 2, 1),
        Concatenation(ref, 2, 2),
    ]
    assert [m.text for m in inbox.messages] == chunks


async def test_characters_cut_between_parts_survive(
    conn: SmppConnector, smsc: FakeSmsc, inbox: Inbox
) -> None:
    emoji = "😀".encode("utf-16-be")
    ucs2 = ["a".encode("utf-16-be") + emoji[:2], emoji[2:] + "b".encode("utf-16-be")]
    for seq, data in enumerate(ucs2, 1):
        await smsc.push(mo(concat_udh(7, 2, seq) + data, esm_class=0x40, data_coding=8))
    gsm = [b"5\x1b", b"e!"]  # '€' is ESC e, cut after the ESC
    for seq, data in enumerate(gsm, 1):
        await smsc.push(mo(concat_udh(8, 2, seq) + data, esm_class=0x40))
    texts = [m.text for m in inbox.messages]
    assert join_parts(texts[:2]) == "a😀b"
    assert join_parts(texts[2:]) == "5€!"


async def test_sar_parts(conn: SmppConnector, smsc: FakeSmsc, inbox: Inbox) -> None:
    for seq in (2, 1):
        tlvs = (
            NO_TLVS.with_int(Tag.SAR_MSG_REF_NUM, 300, 2)
            .with_int(Tag.SAR_TOTAL_SEGMENTS, 2, 1)
            .with_int(Tag.SAR_SEGMENT_SEQNUM, seq, 1)
        )
        await smsc.push(mo(f"part {seq}".encode(), tlvs=tlvs))
    assert [(m.part, m.text) for m in inbox.messages] == [
        (Concatenation(300, 2, 2), "part 2"),
        (Concatenation(300, 2, 1), "part 1"),
    ]


async def test_message_payload(conn: SmppConnector, smsc: FakeSmsc, inbox: Inbox) -> None:
    text = "Long message 😀 " * 30
    tlvs = NO_TLVS.with_bytes(Tag.MESSAGE_PAYLOAD, text.encode("utf-16-be"))
    resp = await smsc.push(mo(b"", data_coding=8, tlvs=tlvs))
    assert resp.command_status == _S.ESME_ROK
    [message] = inbox.messages
    assert message.text == text and message.part is None


async def test_sink_failure_leaves_the_message_with_the_smsc(
    conn: SmppConnector, smsc: FakeSmsc, inbox: Inbox
) -> None:
    inbox.fail = True
    resp = await smsc.push(mo(b"hello"))
    assert resp.command_status == _S.ESME_RX_T_APPN
    inbox.fail = False
    resp = await smsc.push(mo(b"hello"))
    assert resp.command_status == _S.ESME_ROK
    assert [m.text for m in inbox.messages] == ["hello"]


async def test_binary_and_undecodable_messages_are_refused_for_good(
    conn: SmppConnector, smsc: FakeSmsc, inbox: Inbox
) -> None:
    binary = await smsc.push(mo(b"\x01\x02\x03", data_coding=4))
    assert binary.command_status == _S.ESME_RX_R_APPN
    broken = await smsc.push(mo(b"\x09\x00\x03", esm_class=0x40))  # UDHL past the data
    assert broken.command_status == _S.ESME_RX_P_APPN
    assert inbox.messages == []


async def test_receipts_still_go_to_the_report_sink(
    conn: SmppConnector, smsc: FakeSmsc, sink: Sink, inbox: Inbox
) -> None:
    resp = await smsc.push_receipt("m9")
    assert resp.command_status == _S.ESME_ROK
    assert [r.external_id for r in sink.reports] == ["m9"] and inbox.messages == []
    ack = await smsc.push(mo(b"", esm_class=0x08))  # an SME delivery acknowledgement
    assert ack.command_status == _S.ESME_ROK and inbox.messages == []
