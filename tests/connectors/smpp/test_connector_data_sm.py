"""SmppConnector: data_sm from the SMSC (SMPP 3.4 4.7.1) is handled like deliver_sm: a
receipt goes to the report sink, an MO to the inbound sink, and data_sm_resp (4.7.2) is sent
only once the sink has returned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from tests.connectors.smpp.peer import FakeSmsc
from tests.connectors.smpp.test_connector import make, smsc, sub
from tests.support import WAIT
from textgate.connectors.base import Concatenation, InboundMessage
from textgate.connectors.smpp.connector import SmppConnector
from textgate.connectors.smpp.constants import CommandStatus, MessageState, Tag
from textgate.connectors.smpp.pdus import NO_TLVS, DataSm, DataSmResp, EnquireLink, Pdu
from textgate.connectors.smpp.tlv import Tlvs
from textgate.core.encoding import encode_gsm7
from textgate.core.message import DeliveryReport, Status

__all__ = ["smsc"]  # fixture shared with test_connector

_S = CommandStatus


class Stores:
    """The report and inbound sinks. Each notes "stored" as it returns; ``hold`` keeps them
    from returning until ``release``; ``fail`` makes them raise."""

    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []
        self.messages: list[InboundMessage] = []
        self.events: list[str] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()
        self.fail = False

    def hold(self) -> None:
        self.release.clear()

    async def _gate(self) -> None:
        self.entered.set()
        await self.release.wait()
        if self.fail:
            raise RuntimeError("database down")

    async def report(self, reports: Sequence[DeliveryReport]) -> None:
        await self._gate()
        self.reports.extend(reports)
        self.events.append("stored")

    async def inbound(self, messages: Sequence[InboundMessage]) -> None:
        await self._gate()
        self.messages.extend(messages)
        self.events.append("stored")


@pytest.fixture
def stores() -> Stores:
    return Stores()


@pytest.fixture
async def conn(smsc: FakeSmsc, stores: Stores) -> AsyncIterator[SmppConnector]:
    connector = make(smsc)
    await connector.start(stores.report, stores.inbound)
    try:
        yield connector
    finally:
        await connector.stop()


def data_sm(
    payload: bytes,
    *,
    esm_class: int = 0,
    data_coding: int = 0,
    tlvs: Tlvs = NO_TLVS,
) -> DataSm:
    if payload:
        tlvs = tlvs.with_bytes(Tag.MESSAGE_PAYLOAD, payload)
    return DataSm(
        sequence_number=0,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="4915123456",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="4930555",
        esm_class=esm_class,
        data_coding=data_coding,
        tlvs=tlvs,
    )


def receipt_tlvs(external_id: str, state: MessageState) -> Tlvs:
    return NO_TLVS.with_str(Tag.RECEIPTED_MESSAGE_ID, external_id).with_int(
        Tag.MESSAGE_STATE, state, 1
    )


async def answered_after_the_sink(smsc: FakeSmsc, stores: Stores, pdu: DataSm) -> Pdu:
    """Push ``pdu`` while the sinks are held and prove no answer came before they returned:
    an enquire_link round trip on the same connection, made while the sink holds, would
    arrive after any data_sm_resp sent earlier (one TCP stream, answered in order)."""
    stores.hold()

    async def push() -> Pdu:
        resp = await smsc.push(pdu)
        stores.events.append("answered")
        return resp

    pushed = asyncio.ensure_future(push())
    await asyncio.wait_for(stores.entered.wait(), WAIT)
    keepalive = await smsc.sessions[-1].request(EnquireLink(sequence_number=0), WAIT)
    assert keepalive.command_status == _S.ESME_ROK
    assert not pushed.done()  # held sink: no data_sm_resp yet
    stores.release.set()
    resp = await asyncio.wait_for(pushed, WAIT)
    assert stores.events == ["stored", "answered"]
    assert isinstance(resp, DataSmResp)
    return resp


def appendix_b(external_id: str, stat: str, err: str = "000") -> bytes:
    return (
        f"id:{external_id} sub:001 dlvrd:000 submit date:2611220100 "
        f"done date:2611220101 stat:{stat} err:{err} text:hello"
    ).encode()


async def test_a_flagged_receipt_of_a_submitted_message(
    conn: SmppConnector, smsc: FakeSmsc, stores: Stores
) -> None:
    [outcome] = await conn.submit([sub()])
    external_id = outcome.external_id
    assert external_id
    pdu = data_sm(
        appendix_b(external_id, "DELIVRD"),
        esm_class=0x04,
        tlvs=receipt_tlvs(external_id, MessageState.DELIVERED),
    )
    resp = await answered_after_the_sink(smsc, stores, pdu)
    assert resp.command_status == _S.ESME_ROK
    [report] = stores.reports
    assert (report.connector, report.external_id) == ("smpp1", external_id)
    assert report.status == Status.DELIVERED and stores.messages == []


@pytest.mark.parametrize(
    ("esm_class", "payload", "tlvs", "status", "error_code"),
    [
        # Default message type, named by its TLVs only (no text at all).
        (0x00, b"", receipt_tlvs("ab12", MessageState.UNDELIVERABLE), Status.UNDELIVERED, None),
        # Flagged, Appendix B text only.
        (0x04, appendix_b("ab12", "EXPIRED", "012"), NO_TLVS, Status.EXPIRED, "012"),
    ],
    ids=["tlvs-only", "text-only"],
)
async def test_receipts_by_tlvs_or_by_text(
    conn: SmppConnector,
    smsc: FakeSmsc,
    stores: Stores,
    esm_class: int,
    payload: bytes,
    tlvs: Tlvs,
    status: Status,
    error_code: str | None,
) -> None:
    pdu = data_sm(payload, esm_class=esm_class, tlvs=tlvs)
    resp = await answered_after_the_sink(smsc, stores, pdu)
    assert resp.command_status == _S.ESME_ROK
    [report] = stores.reports
    assert (report.external_id, report.status, report.error_code) == ("ab12", status, error_code)
    assert stores.messages == []


async def test_an_mo_in_message_payload(
    conn: SmppConnector, smsc: FakeSmsc, stores: Stores
) -> None:
    text = "Réponse 😀 " * 20  # longer than one short_message could hold
    resp = await answered_after_the_sink(
        smsc, stores, data_sm(text.encode("utf-16-be"), data_coding=8)
    )
    assert resp.command_status == _S.ESME_ROK
    [message] = stores.messages
    assert (message.sender, message.recipient) == ("+4915123456", "+4930555")
    assert message.text == text and message.part is None
    assert message.connector == "smpp1" and stores.reports == []


@pytest.mark.parametrize(
    ("coding", "payload", "text"),
    [
        (0, encode_gsm7("Hi @ 5€ {ok}"), "Hi @ 5€ {ok}"),
        (1, b"plain ascii", "plain ascii"),
        (3, "Grüße".encode("latin-1"), "Grüße"),
    ],
)
async def test_data_coding_is_honoured(
    conn: SmppConnector, smsc: FakeSmsc, stores: Stores, coding: int, payload: bytes, text: str
) -> None:
    resp = await smsc.push(data_sm(payload, data_coding=coding))
    assert isinstance(resp, DataSmResp) and resp.command_status == _S.ESME_ROK
    assert [m.text for m in stores.messages] == [text]


async def test_sar_parts(conn: SmppConnector, smsc: FakeSmsc, stores: Stores) -> None:
    for seq in (2, 1):
        tlvs = (
            NO_TLVS.with_int(Tag.SAR_MSG_REF_NUM, 300, 2)
            .with_int(Tag.SAR_TOTAL_SEGMENTS, 2, 1)
            .with_int(Tag.SAR_SEGMENT_SEQNUM, seq, 1)
        )
        resp = await smsc.push(data_sm(f"part {seq}".encode(), tlvs=tlvs))
        assert resp.command_status == _S.ESME_ROK
    assert [(m.part, m.text) for m in stores.messages] == [
        (Concatenation(300, 2, 2), "part 2"),
        (Concatenation(300, 2, 1), "part 1"),
    ]


async def test_a_failing_sink_asks_the_smsc_to_deliver_again(
    conn: SmppConnector, smsc: FakeSmsc, stores: Stores
) -> None:
    [outcome] = await conn.submit([sub()])
    external_id = outcome.external_id
    assert external_id
    stores.fail = True
    requests = [
        # The answer chained to the report sink (a delivered receipt of a known id) ...
        data_sm(b"", esm_class=0x04, tlvs=receipt_tlvs(external_id, MessageState.DELIVERED)),
        # ... the full receipt parse ...
        data_sm(appendix_b("ab12", "UNDELIV"), esm_class=0x04),
        # ... and an MO.
        data_sm(b"hello"),
    ]
    for pdu in requests:
        resp = await smsc.push(pdu)
        assert isinstance(resp, DataSmResp)
        assert resp.command_status == _S.ESME_RX_T_APPN
    stores.fail = False
    for pdu in requests:
        resp = await smsc.push(pdu)
        assert resp.command_status == _S.ESME_ROK
    assert [r.external_id for r in stores.reports] == [external_id, "ab12"]
    assert [m.text for m in stores.messages] == ["hello"]


async def test_binary_mo_is_refused_for_good(
    conn: SmppConnector, smsc: FakeSmsc, stores: Stores
) -> None:
    resp = await smsc.push(data_sm(b"\x01\x02\x03", data_coding=4))
    assert isinstance(resp, DataSmResp) and resp.command_status == _S.ESME_RX_R_APPN
    assert stores.messages == []
