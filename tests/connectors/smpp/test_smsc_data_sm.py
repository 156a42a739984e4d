"""The SMSC simulator sends receipts and MO as data_sm (SMPP 3.4 4.7.1) when told to, and
textgate's SmppConnector takes them like deliver_sm."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.connectors.smpp.test_smsc import Sink, eventually, sub
from tests.support import WAIT
from textgate.cli import app
from textgate.connectors.base import InboundMessage
from textgate.connectors.smpp.client import bind
from textgate.connectors.smpp.connector import SmppConnector, SmppOptions
from textgate.connectors.smpp.constants import CommandStatus, MessageState, Tag
from textgate.connectors.smpp.pdus import (
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    Pdu,
    SubmitSm,
    SubmitSmResp,
)
from textgate.connectors.smpp.receipts import parse_receipt
from textgate.connectors.smpp.session import Session
from textgate.connectors.smpp.smsc import DeliverAs, Smsc, SmscOptions, SmscRule
from textgate.connectors.smpp.smsc_rules import load_rules
from textgate.core.inbound import join_parts
from textgate.core.message import Status

_S = CommandStatus


class RawEsme:
    """A bound session that keeps every deliver_sm / data_sm and answers it ESME_ROK."""

    def __init__(self) -> None:
        self.requests: list[DeliverSm | DataSm] = []
        self.session: Session | None = None

    async def handler(self, pdu: Pdu) -> Pdu | None:
        if isinstance(pdu, DataSm):
            self.requests.append(pdu)
            return DataSmResp(sequence_number=pdu.sequence_number)
        if isinstance(pdu, DeliverSm):
            self.requests.append(pdu)
        return DeliverSmResp(sequence_number=pdu.sequence_number)

    async def submit(self, destination: str) -> SubmitSmResp:
        assert self.session is not None
        resp = await self.session.request(
            SubmitSm(
                sequence_number=0,
                source_addr="Shop",
                destination_addr=destination,
                registered_delivery=1,
                short_message=b"hello",
            )
        )
        assert isinstance(resp, SubmitSmResp) and resp.command_status == _S.ESME_ROK
        return resp


@contextlib.asynccontextmanager
async def raw_esme(smsc: Smsc) -> AsyncIterator[RawEsme]:
    esme = RawEsme()
    esme.session = await bind(
        "127.0.0.1",
        smsc.port,
        system_id="textgate",
        password="textgate",
        handler=esme.handler,
        enquire_link_interval=None,
        response_timeout=WAIT,
    )
    try:
        yield esme
    finally:
        await esme.session.close()


@contextlib.asynccontextmanager
async def simulator(**options: Any) -> AsyncIterator[Smsc]:
    smsc = Smsc(SmscOptions.from_mapping({"port": 0, "receipt_delay_ms": 0, **options}))
    await smsc.start()
    try:
        yield smsc
    finally:
        await smsc.stop()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []

    async def __call__(self, messages: Sequence[InboundMessage]) -> None:
        self.messages.extend(messages)


@contextlib.asynccontextmanager
async def connector(smsc: Smsc, sink: Sink, inbox: Inbox) -> AsyncIterator[SmppConnector]:
    conn = SmppConnector(
        "sim",
        SmppOptions(
            port=smsc.port,
            system_id="textgate",
            password="textgate",
            response_timeout=WAIT,
            reconnect_initial=0.05,
        ),
    )
    await conn.start(sink, inbox)
    try:
        yield conn
    finally:
        await conn.stop()


async def test_receipts_as_data_sm_on_the_wire() -> None:
    async with simulator(receipts_as="data_sm", enroute_first=True) as smsc, raw_esme(smsc) as esme:
        resp = await esme.submit("4915100")
        assert await eventually(lambda: len(esme.requests) == 2)
    enroute, final = esme.requests
    for receipt, stat, state in (
        (enroute, "ENROUTE", MessageState.ENROUTE),
        (final, "DELIVRD", MessageState.DELIVERED),
    ):
        assert isinstance(receipt, DataSm) and receipt.esm_class == 0x04
        assert (receipt.source_addr, receipt.destination_addr) == ("4915100", "Shop")
        payload = receipt.tlvs.get(Tag.MESSAGE_PAYLOAD)
        parsed = parse_receipt((payload or b"").decode())
        assert parsed is not None and (parsed.message_id, parsed.stat) == (resp.message_id, stat)
        assert receipt.tlvs.get_str(Tag.RECEIPTED_MESSAGE_ID) == resp.message_id
        assert receipt.tlvs.get_int(Tag.MESSAGE_STATE) == state
    assert await eventually(lambda: smsc.receipts_sent == 2)


async def test_a_rule_sends_receipts_as_data_sm_for_its_prefix_only() -> None:
    rules = [SmscRule("4930", receipts_as=DeliverAs.DATA_SM)]
    async with simulator(rules=rules) as smsc, raw_esme(smsc) as esme:
        ours = await esme.submit("4930100")
        await esme.submit("4915100")
        assert await eventually(lambda: len(esme.requests) == 2)
    kinds = {type(r).__name__: r.tlvs.get_str(Tag.RECEIPTED_MESSAGE_ID) for r in esme.requests}
    assert set(kinds) == {"DataSm", "DeliverSm"}
    assert kinds["DataSm"] == ours.message_id


async def test_the_connector_takes_data_sm_receipts() -> None:
    sink, inbox = Sink(), Inbox()
    async with (
        simulator(receipts_as="data_sm", final_stat="UNDELIV") as smsc,
        connector(smsc, sink, inbox) as conn,
    ):
        outcomes = await conn.submit([sub("hello", message_id="a"), sub("again", message_id="b")])
        await sink.wait_for(2)
        # Answered ESME_ROK (counted) only once stored, in data_sm_resp.
        assert await eventually(lambda: smsc.receipts_sent == 2)
    assert {r.external_id for r in sink.reports} == {o.external_id for o in outcomes}
    assert {(r.status, r.error_code) for r in sink.reports} == {(Status.UNDELIVERED, "001")}
    assert inbox.messages == []


@pytest.mark.parametrize(
    ("text", "split"),
    [
        ("Parts linked by SAR TLVs, no header at all. " * 5, "sar"),
        ("Réponse longue 👍 " * 10, "udh8"),
        ("One data_sm, the text in message_payload. " * 5, "payload"),
    ],
)
async def test_the_connector_takes_data_sm_mo(text: str, split: str) -> None:
    sink, inbox = Sink(), Inbox()
    async with simulator(mo_as="data_sm") as smsc, connector(smsc, sink, inbox):
        resp = await smsc.send_mo("33700000001", "+33698765432", text, split=split)
        assert isinstance(resp, DataSmResp) and resp.command_status == _S.ESME_ROK
        assert smsc.mo_sent == 1
    parts = sorted(inbox.messages, key=lambda m: m.part.sequence if m.part else 0)
    assert join_parts([m.text for m in parts]) == text
    assert {(m.sender, m.recipient) for m in parts} == {("+33698765432", "+33700000001")}
    assert (len(parts) > 1) == (split != "payload")


async def test_send_mo_chooses_the_request_per_call() -> None:
    async with simulator() as smsc, raw_esme(smsc) as esme:
        first = await smsc.send_mo("100", "+4915100000", "via deliver")
        second = await smsc.send_mo("100", "+4915100000", "via data", as_pdu="data_sm")
    assert isinstance(first, DeliverSmResp) and isinstance(second, DataSmResp)
    deliver, data = esme.requests
    assert isinstance(deliver, DeliverSm) and deliver.short_message == b"via deliver"
    assert isinstance(data, DataSm) and data.tlvs.get(Tag.MESSAGE_PAYLOAD) == b"via data"
    assert (data.source_addr, data.source_addr_ton, data.destination_addr) == (
        "4915100000",
        1,
        "100",
    )


def test_options_and_rule_files(tmp_path: Path) -> None:
    assert SmscOptions().receipts_as is DeliverAs.DELIVER_SM
    assert SmscOptions.from_mapping({"receipts_as": "data_sm"}).behaviour().receipts_as == (
        DeliverAs.DATA_SM
    )
    with pytest.raises(ValueError, match="data_sm"):
        SmscOptions.from_mapping({"mo_as": "submit_sm"})
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rules]]\nprefix = "4930"\nreceipts_as = "data_sm"\n')
    [rule] = load_rules(rules)
    assert rule.receipts_as is DeliverAs.DATA_SM
    rules.write_text('[[rules]]\nprefix = "4930"\nreceipts_as = "fax"\n')
    with pytest.raises(ValueError, match="fax"):
        load_rules(rules)


def test_cli_option() -> None:
    result = CliRunner().invoke(app, ["smsc", "--help"])
    assert result.exit_code == 0 and "--receipts-as" in result.output
    refused = CliRunner().invoke(app, ["smsc", "--port", "0", "--receipts-as", "fax"])
    assert refused.exit_code != 0 and "fax" in refused.output
