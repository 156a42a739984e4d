"""SmppConnector against the test SMSC in ``peer.py``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest

from tests.connectors.smpp.peer import FakeSmsc, VirtualTime, running_smsc, until
from tests.support import WAIT
from textgate.connectors.base import Connector, Submission
from textgate.connectors.health import LinkState
from textgate.connectors.smpp.connector import SmppConnector, SmppOptions
from textgate.connectors.smpp.constants import CommandStatus, MessageState, Tag
from textgate.connectors.smpp.pdus import NO_TLVS, DeliverSm, DeliverSmResp
from textgate.connectors.smpp.shortmessage import ESM_UDHI, decode_short_message
from textgate.connectors.smpp.status import to_connector_error
from textgate.core.encoding import choose_encoding, segment
from textgate.core.message import DeliveryReport, Status
from textgate.errors import ConnectorError


class Sink:
    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []
        self.fail = False

    async def __call__(self, reports: Sequence[DeliveryReport]) -> None:
        if self.fail:
            raise RuntimeError("database down")
        self.reports.extend(reports)


@pytest.fixture
async def smsc() -> AsyncIterator[FakeSmsc]:
    async with running_smsc() as s:
        yield s


def make(smsc: FakeSmsc, *, clock: VirtualTime | None = None, **options: object) -> SmppConnector:
    opts = SmppOptions.from_mapping(
        {
            "port": smsc.port,
            "system_id": "esme",
            "password": "secret",
            "response_timeout": WAIT,
            "reconnect_initial": 0.05,
            **options,
        }
    )
    if clock is None:
        return SmppConnector("smpp1", opts)
    return SmppConnector("smpp1", opts, clock=clock, sleep=clock.sleep)


@pytest.fixture
async def sink() -> Sink:
    return Sink()


@pytest.fixture
async def conn(smsc: FakeSmsc, sink: Sink) -> AsyncIterator[SmppConnector]:
    connector = make(smsc)
    await connector.start(sink)
    try:
        yield connector
    finally:
        await connector.stop()


def sub(
    text: str = "hello", recipient: str = "+4915100000", sender: str | None = "Shop"
) -> Submission:
    seg = segment(text)
    return Submission("msg-1", recipient, sender, text, str(choose_encoding(text)), seg.count)


def test_options_validate() -> None:
    with pytest.raises(ValueError, match="unknown smpp options"):
        SmppOptions.from_mapping({"hots": "x"})
    with pytest.raises(ValueError, match="long_messages"):
        SmppOptions.from_mapping({"long_messages": "sar"})


def test_status_table() -> None:
    throttled = to_connector_error(CommandStatus.ESME_RTHROTTLED)
    assert throttled.retryable and throttled.code == "esme_rthrottled"
    bad_dest = to_connector_error(CommandStatus.ESME_RINVDSTADR)
    assert not bad_dest.retryable and bad_dest.code == "esme_rinvdstadr"
    unknown = to_connector_error(0x400)
    assert not unknown.retryable and "0x00000400" in unknown.message


async def test_is_a_connector(conn: SmppConnector) -> None:
    assert isinstance(conn, Connector)
    assert conn.bound


async def test_single_gsm_message_alphanumeric_sender(conn: SmppConnector, smsc: FakeSmsc) -> None:
    [outcome] = await conn.submit([sub("hello @ world")])
    assert outcome.error is None and outcome.external_id == "m1"
    assert outcome.message_id == "msg-1"
    [pdu] = smsc.submits
    assert pdu.destination_addr == "4915100000"
    assert (pdu.dest_addr_ton, pdu.dest_addr_npi) == (1, 1)
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == ("Shop", 5, 0)
    assert pdu.data_coding == 0 and pdu.esm_class == 0 and pdu.registered_delivery == 1
    assert pdu.short_message == b"hello \x00 world"  # '@' is septet 0x00, unpacked


async def test_numeric_and_missing_sender(conn: SmppConnector, smsc: FakeSmsc) -> None:
    outcomes = await conn.submit([sub(sender="+4917000000"), sub(sender=None)])
    assert all(o.error is None for o in outcomes)
    by_source = {p.source_addr: p for p in smsc.submits}
    numeric = by_source["4917000000"]
    assert (numeric.source_addr_ton, numeric.source_addr_npi) == (1, 1)
    empty = by_source[""]
    assert (empty.source_addr_ton, empty.source_addr_npi) == (0, 0)


def reassemble(smsc: FakeSmsc) -> tuple[str, set[int]]:
    parts = []
    for pdu in smsc.submits:
        assert pdu.esm_class & ESM_UDHI
        decoded = decode_short_message(pdu.short_message, pdu.data_coding, pdu.esm_class)
        assert decoded.concat is not None and decoded.text is not None
        parts.append((decoded.concat.seq, decoded.concat.total, decoded.text, decoded.concat.ref))
    parts.sort()
    assert [p[0] for p in parts] == list(range(1, len(parts) + 1))
    assert {p[1] for p in parts} == {len(parts)}
    return "".join(p[2] for p in parts), {p[3] for p in parts}


@pytest.mark.parametrize("mode", ["udh", "udh16"])
async def test_long_gsm_message_with_extension_char(smsc: FakeSmsc, sink: Sink, mode: str) -> None:
    conn = make(smsc, long_messages=mode)
    await conn.start(sink)
    try:
        text = "Price: 5€ [today] " * 20
        [outcome] = await conn.submit([sub(text)])
    finally:
        await conn.stop()
    assert outcome.error is None
    pdus = smsc.submits
    assert len(pdus) == segment(text).count > 1
    assert all(p.data_coding == 0 for p in pdus)
    joined, refs = reassemble(smsc)
    assert joined == text and len(refs) == 1
    udh_len = pdus[0].short_message[0]
    assert udh_len == (6 if mode == "udh16" else 5)
    # Only the last part asks for a receipt; its id is the message's external id.
    assert [p.registered_delivery for p in pdus] == [0] * (len(pdus) - 1) + [1]
    assert outcome.external_id == f"m{len(pdus)}"


async def test_long_message_as_payload(smsc: FakeSmsc, sink: Sink) -> None:
    conn = make(smsc, long_messages="payload")
    await conn.start(sink)
    try:
        text = "Grüße 😀 " * 20
        [outcome] = await conn.submit([sub(text)])
    finally:
        await conn.stop()
    assert outcome.external_id == "m1"
    [pdu] = smsc.submits
    assert pdu.short_message == b"" and pdu.data_coding == 8
    assert pdu.tlvs.get(Tag.MESSAGE_PAYLOAD) == text.encode("utf-16-be")


async def test_ucs2_with_emoji(conn: SmppConnector, smsc: FakeSmsc) -> None:
    [outcome] = await conn.submit([sub("Hi 😀")])
    assert outcome.error is None
    [pdu] = smsc.submits
    assert pdu.data_coding == 8
    assert pdu.short_message == "Hi 😀".encode("utf-16-be")


async def test_refusals_map_to_retryable_and_final_errors(smsc: FakeSmsc, sink: Sink) -> None:
    conn = make(smsc, throttle_retries=0)  # the throttled message comes back at once
    await conn.start(sink)
    smsc.refuse = {
        "888": CommandStatus.ESME_RTHROTTLED,
        "999": CommandStatus.ESME_RINVDSTADR,
    }
    outcomes = await conn.submit(
        [sub(recipient="+8881"), sub(recipient="+9991"), sub(recipient="+4915100000")]
    )
    await conn.stop()
    throttled, invalid, ok = (o.error for o in outcomes)
    assert throttled is not None and throttled.retryable and throttled.code == "esme_rthrottled"
    assert invalid is not None and not invalid.retryable and invalid.code == "esme_rinvdstadr"
    assert ok is None and outcomes[2].external_id


async def test_batch_is_sent_concurrently(smsc: FakeSmsc, sink: Sink) -> None:
    smsc.submit_delay = 0.05
    conn = make(smsc, window=10)
    await conn.start(sink)
    try:
        batch = [Submission(f"msg-{i}", "+4915100000", None, f"n{i}", "gsm7", 1) for i in range(20)]
        outcomes = await conn.submit(batch)
    finally:
        await conn.stop()
    assert [o.message_id for o in outcomes] == [s.message_id for s in batch]
    assert len({o.external_id for o in outcomes}) == 20
    assert 1 < smsc.max_outstanding <= 10


@pytest.mark.parametrize(
    ("stat", "status"), [("DELIVRD", Status.DELIVERED), ("UNDELIV", Status.UNDELIVERED)]
)
async def test_receipt_reaches_sink_before_ack(
    conn: SmppConnector, smsc: FakeSmsc, sink: Sink, stat: str, status: Status
) -> None:
    [outcome] = await conn.submit([sub()])
    assert outcome.external_id is not None
    err = "000" if stat == "DELIVRD" else "001"
    resp = await smsc.push_receipt(outcome.external_id, stat, err)
    assert isinstance(resp, DeliverSmResp) and resp.command_status == CommandStatus.ESME_ROK
    [report] = sink.reports
    assert report.connector == "smpp1"
    assert report.external_id == outcome.external_id
    assert report.status == status
    assert report.at == datetime(2026, 11, 22, 1, 1, tzinfo=UTC)
    assert report.error_code == (None if stat == "DELIVRD" else "001")


async def test_sink_failure_asks_smsc_to_retry(
    conn: SmppConnector, smsc: FakeSmsc, sink: Sink
) -> None:
    sink.fail = True
    resp = await smsc.push_receipt("m7")
    assert resp.command_status == CommandStatus.ESME_RX_T_APPN
    sink.fail = False
    resp = await smsc.push_receipt("m7")
    assert resp.command_status == CommandStatus.ESME_ROK
    assert [r.external_id for r in sink.reports] == ["m7"]


async def test_mo_without_inbound_sink_stays_with_the_smsc(
    conn: SmppConnector, smsc: FakeSmsc, sink: Sink
) -> None:
    resp = await smsc.push_deliver(b"hello there")
    assert resp.command_status == CommandStatus.ESME_RX_T_APPN
    assert sink.reports == []


async def test_dropped_link_rebinds(conn: SmppConnector, smsc: FakeSmsc) -> None:
    await conn.wait_bound(WAIT)
    await smsc.drop()
    await until(lambda: not conn.bound)
    with pytest.raises(ConnectorError) as info:
        await conn.submit([sub()])
    assert info.value.retryable
    await conn.wait_bound(WAIT)
    [outcome] = await conn.submit([sub()])
    assert outcome.error is None and outcome.external_id
    binds = [p for p in smsc.received if type(p).__name__ == "BindTransceiver"]
    assert len(binds) == 2


async def test_start_while_smsc_down_binds_later(sink: Sink) -> None:
    smsc = FakeSmsc()
    await smsc.start()
    port = smsc.port
    await smsc.close()
    conn = SmppConnector(
        "smpp1",
        SmppOptions(port=port, system_id="esme", password="secret", reconnect_initial=0.05),
    )
    await conn.start(sink)  # retryable failure: logged, retried in the background
    try:
        with pytest.raises(ConnectorError) as info:
            await conn.submit([sub()])
        assert info.value.retryable and info.value.code == "smpp_not_bound"
    finally:
        await conn.stop()


async def test_bad_credentials_do_not_raise_on_start(smsc: FakeSmsc, sink: Sink) -> None:
    conn = make(smsc, password="wrong", reconnect_auth_min=30.0)
    await conn.start(sink)  # refused: shown and retried later, never raised
    try:
        [link] = conn.links()
        assert link.state is LinkState.AUTH_REFUSED and not link.up
        assert link.last_error == "bind refused: ESME_RINVPASWD"
        assert link.retry_at is not None
        with pytest.raises(ConnectorError) as info:
            await conn.submit([sub()])
        assert info.value.retryable and info.value.code == "smpp_not_bound"
    finally:
        await conn.stop()


async def test_stop_unbinds(smsc: FakeSmsc, sink: Sink, caplog: pytest.LogCaptureFixture) -> None:
    conn = make(smsc)
    await conn.start(sink)
    with caplog.at_level(logging.INFO, logger="textgate.connectors.smpp.session"):
        await conn.stop()
        await asyncio.wait_for(smsc.sessions[0].wait_closed(), WAIT)
    assert not conn.bound
    assert any("smsc: closing (peer unbound)" in r.getMessage() for r in caplog.records)
    with pytest.raises(ConnectorError):
        await conn.submit([sub()])


async def test_delivered_receipt_named_by_tlvs_is_acknowledged_only_once_stored(
    conn: SmppConnector, smsc: FakeSmsc, sink: Sink
) -> None:
    """The quick path (TLVs name a submitted message as delivered; no text parse, no task)
    keeps the rule: ESME_ROK only after the sink stored the report."""
    [outcome] = await conn.submit([sub()])
    assert outcome.external_id is not None
    session = smsc.sessions[-1]
    receipt = DeliverSm(
        sequence_number=0,
        source_addr="4915100000",
        destination_addr="Shop",
        esm_class=0x04,
        short_message=b"garbage that is not an Appendix B receipt",
        tlvs=NO_TLVS.with_str(Tag.RECEIPTED_MESSAGE_ID, outcome.external_id).with_int(
            Tag.MESSAGE_STATE, MessageState.DELIVERED, 1
        ),
    )
    sink.fail = True
    resp = await session.request(receipt, WAIT)
    assert resp.command_status == CommandStatus.ESME_RX_T_APPN
    assert sink.reports == []
    sink.fail = False
    resp = await session.request(receipt, WAIT)
    assert resp.command_status == CommandStatus.ESME_ROK
    [report] = sink.reports
    assert (report.external_id, report.status) == (outcome.external_id, Status.DELIVERED)
