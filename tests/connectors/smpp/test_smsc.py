"""The SMSC simulator (``connectors/smpp/smsc.py``) against textgate's own SmppConnector."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.support import WAIT, until
from textgate.cli import app
from textgate.connectors.base import Submission
from textgate.connectors.health import LinkState
from textgate.connectors.smpp.client import BindMode, bind
from textgate.connectors.smpp.connector import SmppConnector, SmppOptions
from textgate.connectors.smpp.constants import CommandStatus
from textgate.connectors.smpp.pdus import DeliverSm, DeliverSmResp, Pdu, SubmitSm, SubmitSmResp
from textgate.connectors.smpp.receipts import parse_receipt
from textgate.connectors.smpp.session import Session
from textgate.connectors.smpp.smsc import Smsc, SmscOptions
from textgate.core.encoding import choose_encoding, segment
from textgate.core.message import DeliveryReport, Status
from textgate.errors import ConnectorError


class Sink:
    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []
        self.arrived = asyncio.Event()

    async def __call__(self, reports: Sequence[DeliveryReport]) -> None:
        self.reports.extend(reports)
        self.arrived.set()

    async def wait_for(self, count: int, timeout: float = WAIT) -> None:
        async with asyncio.timeout(timeout):
            while len(self.reports) < count:
                self.arrived.clear()
                await self.arrived.wait()


async def eventually(check: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Whether ``check()`` comes to hold within ``timeout`` seconds."""
    with contextlib.suppress(AssertionError):
        await until(check, timeout=timeout, interval=0.01)
    return check()


class Esme:
    """A raw ESME: textgate's client bind(), answering and keeping every deliver_sm."""

    def __init__(self) -> None:
        self.delivered: list[DeliverSm] = []
        self.session: Session | None = None
        self._changed = asyncio.Event()

    async def handler(self, pdu: Pdu) -> Pdu | None:
        if isinstance(pdu, DeliverSm):
            self.delivered.append(pdu)
            self._changed.set()
        return DeliverSmResp(sequence_number=pdu.sequence_number)

    async def wait_for(self, count: int, timeout: float = WAIT) -> list[DeliverSm]:
        async with asyncio.timeout(timeout):
            while len(self.delivered) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.delivered

    async def submit(self, destination: str, text: str = "hi", **fields: Any) -> Pdu:
        assert self.session is not None
        return await self.session.request(
            SubmitSm(
                sequence_number=0,
                source_addr="Shop",
                destination_addr=destination,
                registered_delivery=fields.pop("registered_delivery", 1),
                short_message=fields.pop("short_message", text.encode()),
                **fields,
            )
        )


@contextlib.asynccontextmanager
async def esme_of(smsc: Smsc, mode: BindMode = "transceiver") -> AsyncIterator[Esme]:
    esme = Esme()
    esme.session = await bind(
        "127.0.0.1",
        smsc.port,
        system_id="textgate",
        password="textgate",
        mode=mode,
        handler=esme.handler,
        enquire_link_interval=None,
        response_timeout=WAIT,
    )
    try:
        yield esme
    finally:
        await esme.session.close()


def sub(text: str, recipient: str = "+4915100000", message_id: str = "msg-1") -> Submission:
    seg = segment(text)
    return Submission(message_id, recipient, "Shop", text, str(choose_encoding(text)), seg.count)


async def _smsc(**options: Any) -> Smsc:
    smsc = Smsc(SmscOptions.from_mapping({"port": 0, "receipt_delay_ms": 10, **options}))
    await smsc.start()
    return smsc


def _connector(smsc: Smsc, password: str = "textgate") -> SmppConnector:  # noqa: S107
    return SmppConnector(
        "sim",
        SmppOptions(
            port=smsc.port,
            system_id="textgate",
            password=password,
            response_timeout=WAIT,
            reconnect_initial=0.05,
        ),
    )


@pytest.fixture
async def smsc() -> AsyncIterator[Smsc]:
    s = await _smsc()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def sink() -> Sink:
    return Sink()


@pytest.fixture
async def conn(smsc: Smsc, sink: Sink) -> AsyncIterator[SmppConnector]:
    connector = _connector(smsc)
    await connector.start(sink)
    try:
        yield connector
    finally:
        await connector.stop()


def test_options() -> None:
    opts = SmscOptions.from_mapping({"accounts": {"a": "b"}, "throttle_every": 3})
    assert opts.port == 2776
    assert dict(opts.accounts) == {"a": "b"}
    assert SmscOptions().accounts == {"textgate": "textgate"}
    with pytest.raises(ValueError, match="unknown smsc options"):
        SmscOptions.from_mapping({"nope": 1})
    with pytest.raises(ValueError, match="final_stat"):
        SmscOptions(final_stat="BOGUS")


async def test_submit_and_receipts(smsc: Smsc, conn: SmppConnector, sink: Sink) -> None:
    assert smsc.port != 0
    assert smsc.bound_sessions == 1
    long_gsm = "long message " * 20
    ucs2 = "Привет, мир 😀"
    outcomes = await conn.submit(
        [sub("hello", message_id="a"), sub(long_gsm, message_id="b"), sub(ucs2, message_id="c")]
    )
    assert [o.error for o in outcomes] == [None, None, None]
    ids = [o.external_id for o in outcomes]
    assert all(ids) and len(set(ids)) == 3
    assert all(int(i or "", 16) > 0 for i in ids)
    assert smsc.submitted == 2 + segment(long_gsm).count
    await sink.wait_for(3)
    assert {r.external_id for r in sink.reports} == set(ids)
    assert {r.status for r in sink.reports} == {Status.DELIVERED}
    assert all(r.connector == "sim" and r.error_code is None for r in sink.reports)
    # The sink runs before deliver_sm_resp is sent: the counter follows shortly.
    assert await eventually(lambda: smsc.receipts_sent == 3)


async def test_undelivered_receipt(sink: Sink) -> None:
    smsc = await _smsc(final_stat="UNDELIV", receipt_delay_ms=0)
    conn = _connector(smsc)
    try:
        await conn.start(sink)
        [outcome] = await conn.submit([sub("hello")])
        await sink.wait_for(1)
        [report] = sink.reports
        assert report.external_id == outcome.external_id
        assert report.status == Status.UNDELIVERED
        assert report.error_code == "001"
    finally:
        await conn.stop()
        await smsc.stop()


async def test_a_message_whose_validity_ends_before_its_outcome_expires(sink: Sink) -> None:
    # The handset would take a minute; the client's validity ends in 300 ms: the SMSC gives
    # up then (5.2.16) and says so in the receipt.
    smsc = await _smsc(receipt_delay_ms=60_000)
    conn = _connector(smsc)
    try:
        await conn.start(sink)
        ends = int(time.time() * 1000) + 300
        [outcome] = await conn.submit([replace(sub("code 4711"), valid_until=ends)])
        await sink.wait_for(1)
        [report] = sink.reports
        assert (report.external_id, report.status) == (outcome.external_id, Status.EXPIRED)
    finally:
        await conn.stop()
        await smsc.stop()


async def test_wrong_password_is_refused(smsc: Smsc, sink: Sink) -> None:
    conn = _connector(smsc, password="wrong")
    await conn.start(sink)
    try:
        [link] = conn.links()
        assert link.state is LinkState.AUTH_REFUSED
        assert link.last_error == "bind refused: ESME_RINVPASWD"
        assert smsc.bound_sessions == 0
    finally:
        await conn.stop()


async def test_unknown_system_id_is_refused(smsc: Smsc, sink: Sink) -> None:
    conn = SmppConnector("x", SmppOptions(port=smsc.port, system_id="who", password="x"))
    await conn.start(sink)
    try:
        [link] = conn.links()
        assert link.state is LinkState.AUTH_REFUSED
        assert link.last_error == "bind refused: ESME_RINVSYSID"
    finally:
        await conn.stop()


async def test_submit_before_bind(smsc: Smsc) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", smsc.port)
    async with Session(reader, writer, enquire_link_interval=None) as session:
        resp = await session.request(
            SubmitSm(sequence_number=0, destination_addr="4915100000", short_message=b"hi")
        )
        assert resp.command_status == CommandStatus.ESME_RINVBNDSTS
    assert smsc.submitted == 0


async def test_throttle_every() -> None:
    smsc = await _smsc(throttle_every=2)
    try:
        async with esme_of(smsc) as esme:
            statuses = [(await esme.submit(f"4915{i}")).command_status for i in range(4)]
        throttled = CommandStatus.ESME_RTHROTTLED
        assert statuses == [0, throttled, 0, throttled]
        assert smsc.throttled == 2
        assert smsc.submitted == 2
    finally:
        await smsc.stop()


async def test_reject_prefix() -> None:
    smsc = await _smsc(reject_prefix="+999")
    try:
        async with esme_of(smsc) as esme:
            bad = await esme.submit("999123")
            good = await esme.submit("4915100")
        assert bad.command_status == CommandStatus.ESME_RINVDSTADR
        assert good.command_status == CommandStatus.ESME_ROK
        assert smsc.rejected == 1 and smsc.submitted == 1
    finally:
        await smsc.stop()


async def test_receipts_follow_submit_order(smsc: Smsc) -> None:
    async with esme_of(smsc) as esme:
        resps = await asyncio.gather(*(esme.submit(f"4915{i:04d}") for i in range(300)))
        ids = [r.message_id for r in resps if isinstance(r, SubmitSmResp)]
        assert len(set(ids)) == 300
        receipts = await esme.wait_for(300)
    parsed = [parse_receipt(r.short_message.decode()) for r in receipts]
    # One scheduler per session sends due receipts in the order they fell due, which is
    # the order the SMSC took the PDUs: the order of its ids (a fixed-width counter).
    # That is not always the order of the gather on a busy machine (a write can wait).
    assert [p.message_id if p else None for p in parsed] == sorted(ids)
    assert {p.stat if p else None for p in parsed} == {"DELIVRD"}
    assert await eventually(lambda: smsc.receipts_sent == 300)


async def test_transmitter_receipts_go_to_a_receiver_bind(smsc: Smsc) -> None:
    async with esme_of(smsc, "receiver") as receiver, esme_of(smsc, "transmitter") as tx:
        resp = await tx.submit("4915100")
        [receipt] = await receiver.wait_for(1)
        parsed = parse_receipt(receipt.short_message.decode())
        assert parsed is not None and isinstance(resp, SubmitSmResp)
        assert parsed.message_id == resp.message_id
        assert receipt.destination_addr == "Shop" and receipt.source_addr == "4915100"
        refused = await receiver.submit("4915100")
        assert refused.command_status == CommandStatus.ESME_RINVBNDSTS
    assert tx.delivered == []


async def test_message_ids_never_repeat_across_restarts() -> None:
    seen: list[str] = []
    smsc = Smsc(SmscOptions(port=0))
    for _ in range(2):  # the same object restarted, then a new one
        for server in (smsc, Smsc(SmscOptions(port=0))):
            await server.start()
            try:
                async with esme_of(server) as esme:
                    for i in range(3):
                        resp = await esme.submit(f"4915{i}", registered_delivery=0)
                        assert isinstance(resp, SubmitSmResp)
                        seen.append(resp.message_id)
            finally:
                await server.stop()
    assert len(set(seen)) == len(seen) == 12
    # Same counter values every run: only the per-start prefix tells them apart.
    assert len({i[-8:] for i in seen}) == 3
    assert len({i[:-8] for i in seen}) == 4


async def test_send_mo(smsc: Smsc) -> None:
    async with esme_of(smsc) as esme:
        resp = await smsc.send_mo("100", "+4915100000", "hello textgate")
        assert isinstance(resp, DeliverSmResp)
        assert resp.command_status == CommandStatus.ESME_ROK
        [mo] = await esme.wait_for(1)
    assert mo.source_addr == "4915100000" and mo.source_addr_ton == 1
    assert mo.destination_addr == "100" and mo.short_message == b"hello textgate"
    assert not mo.is_delivery_receipt
    assert smsc.mo_sent == 1


async def test_send_mo_without_receiver(smsc: Smsc) -> None:
    with pytest.raises(ConnectorError, match="no bound receiver") as info:
        await smsc.send_mo("100", "4915100000", "hi")
    assert info.value.retryable


async def test_stop_unbinds_clients(sink: Sink) -> None:
    smsc = await _smsc()
    conn = _connector(smsc)
    try:
        await conn.start(sink)
        assert conn.bound
        await smsc.stop()
        assert await eventually(lambda: not conn.bound)
    finally:
        await conn.stop()


def test_cli_help() -> None:
    result = CliRunner().invoke(app, ["smsc", "--help"])
    assert result.exit_code == 0, result.output
    options = ("--receipt-delay-ms", "--account", "--rules", "--final-stat", "--record")
    for option in (*options, "--refuse-binds", "--refuse-for-ms", "--refuse-status"):
        assert option in result.output


def test_cli_refuses_a_bad_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text('{"rules": [{"prefix": "49", "final_stat": "NOPE"}]}')
    result = CliRunner().invoke(app, ["smsc", "--port", "0", "--rules", str(rules)])
    assert result.exit_code != 0
    assert "final_stat" in result.output


@pytest.mark.parametrize("status", ["ESME_ROK", "NOPE"])
def test_cli_refuses_a_bad_refuse_status(status: str) -> None:
    result = CliRunner().invoke(app, ["smsc", "--port", "0", "--refuse-status", status])
    assert result.exit_code != 0
    assert "refuse_bind_status must not be ESME_ROK" in result.output or "unknown" in result.output
