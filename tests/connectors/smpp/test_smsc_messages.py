"""The SMSC simulator's record of submissions and its mobile-originated messages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.connectors.smpp.test_smsc import esme_of
from textgate.connectors.smpp.constants import CommandStatus, Tag
from textgate.connectors.smpp.pdus import NO_TLVS, DeliverSm
from textgate.connectors.smpp.shortmessage import (
    ESM_UDHI,
    concat_from_tlvs,
    decode_short_message,
)
from textgate.connectors.smpp.smsc import MoSplit, Received, Smsc, SmscOptions
from textgate.connectors.smpp.smsc_messages import reassemble
from textgate.core.encoding import split_for_udh

LONG_GSM = "A long message that needs three parts. " * 10
LONG_UCS2 = "Привет, мир! 😀 " * 10


@pytest.fixture
async def recording() -> AsyncIterator[Smsc]:
    smsc = Smsc(SmscOptions(port=0, receipt_delay_ms=0, record=True))
    await smsc.start()
    try:
        yield smsc
    finally:
        await smsc.stop()


async def test_records_submissions_and_reassembles(recording: Smsc) -> None:
    async with esme_of(recording) as esme:
        await esme.submit("111", "single")
        for payload in split_for_udh(LONG_GSM, ref=7):
            await esme.submit("222", short_message=payload, esm_class=ESM_UDHI)
        for payload in reversed(split_for_udh(LONG_UCS2, ref=0x1234, ref16=True)):
            await esme.submit("333", short_message=payload, esm_class=ESM_UDHI, data_coding=8)
        parts = ["first half, ", "second half"]
        for seq, part in enumerate(parts, start=1):
            tlvs = (
                NO_TLVS.with_int(Tag.SAR_MSG_REF_NUM, 300, 2)
                .with_int(Tag.SAR_TOTAL_SEGMENTS, 2, 1)
                .with_int(Tag.SAR_SEGMENT_SEQNUM, seq, 1)
            )
            await esme.submit("444", short_message=part.encode(), tlvs=tlvs)
        await esme.submit(
            "555", short_message=b"", tlvs=NO_TLVS.with_bytes(Tag.MESSAGE_PAYLOAD, b"payload")
        )
        await esme.submit(
            "666", split_for_udh(LONG_GSM, ref=9)[0].decode("latin-1"), esm_class=ESM_UDHI
        )
    got = recording.received
    assert all(isinstance(r, Received) for r in got)
    assert len({r.message_id for r in got}) == len(got) == 1 + 3 + 3 + 2 + 1 + 1
    single = got[0]
    assert (single.source_addr, single.destination_addr, single.text) == ("Shop", "111", "single")
    assert (single.reference, single.total, single.sequence) == (None, 1, 1)
    assert single.registered_delivery == 1 and single.data_coding == 0
    first_ucs2 = got[4]
    assert (first_ucs2.reference, first_ucs2.total, first_ucs2.sequence) == (0x1234, 3, 3)
    assert first_ucs2.data_coding == 8 and first_ucs2.esm_class == ESM_UDHI
    assert got[7].reference == 300 and got[7].total == 2
    texts = recording.reassembled()
    assert texts[("111", None)] == ("single",)
    assert texts[("222", 7)] == (LONG_GSM,)
    assert texts[("333", 0x1234)] == (LONG_UCS2,)
    assert texts[("444", 300)] == ("first half, second half",)
    assert texts[("555", None)] == ("payload",)
    assert ("666", 9) not in texts  # one part of three never completes


async def test_recording_is_off_by_default() -> None:
    smsc = Smsc(SmscOptions(port=0))
    await smsc.start()
    try:
        async with esme_of(smsc) as esme:
            await esme.submit("111", registered_delivery=0)
        assert smsc.submitted == 1 and smsc.received == []
    finally:
        await smsc.stop()


def test_reassemble_reused_reference() -> None:
    def part(text: str, seq: int, ref: int = 1) -> Received:
        return Received("x", "s", "d", 0, ESM_UDHI, 0, text, ref, 2, seq)

    got = reassemble([part("a", 1), part("b", 2), part("c", 2), part("d", 1), part("z", 1, 2)])
    assert got == {("d", 1): ("ab", "dc")}


def _reassemble_mo(parts: list[DeliverSm]) -> str:
    texts: dict[int, str] = {}
    for pdu in parts:
        data = pdu.short_message or pdu.tlvs.get(Tag.MESSAGE_PAYLOAD) or b""
        decoded = decode_short_message(data, pdu.data_coding, pdu.esm_class)
        concat = decoded.concat or concat_from_tlvs(pdu.tlvs)
        texts[concat.seq if concat else 1] = decoded.text or ""
    return "".join(texts[i] for i in sorted(texts))


@pytest.mark.parametrize(
    ("split", "text", "count", "esm_class", "data_coding"),
    [
        (MoSplit.AUTO, "short one", 1, 0, 0),
        (MoSplit.AUTO, LONG_GSM, 3, ESM_UDHI, 0),
        (MoSplit.UDH8, LONG_UCS2, 3, ESM_UDHI, 8),
        (MoSplit.UDH16, LONG_GSM, 3, ESM_UDHI, 0),
        (MoSplit.SAR, LONG_UCS2, 3, 0, 8),
        (MoSplit.PAYLOAD, LONG_GSM, 1, 0, 0),
    ],
)
async def test_send_mo_splits(
    recording: Smsc, split: MoSplit, text: str, count: int, esm_class: int, data_coding: int
) -> None:
    async with esme_of(recording) as esme:
        resp = await recording.send_mo("100", "+4915100000", text, split=split, ref=42)
        assert resp.command_status == CommandStatus.ESME_ROK
        parts = await esme.wait_for(count)
    assert len(parts) == count and recording.mo_sent == 1
    assert {(p.esm_class, p.data_coding) for p in parts} == {(esm_class, data_coding)}
    assert _reassemble_mo(parts) == text
    if split is MoSplit.UDH16:
        assert parts[0].short_message[:5] == bytes((6, 8, 4, 0, 42))
    if split is MoSplit.UDH8:
        assert parts[0].short_message[:6] == bytes((5, 0, 3, 42, 3, 1))
    if split is MoSplit.SAR:
        assert [p.tlvs.get_int(Tag.SAR_SEGMENT_SEQNUM) for p in parts] == [1, 2, 3]
        assert {p.tlvs.get_int(Tag.SAR_MSG_REF_NUM) for p in parts} == {42}
    if split is MoSplit.PAYLOAD:
        assert parts[0].short_message == b"" and Tag.MESSAGE_PAYLOAD in parts[0].tlvs
