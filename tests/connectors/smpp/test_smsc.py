"""The SMSC simulator (``connectors/smpp/smsc.py``) against textgate's own SmppConnector."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from typer.testing import CliRunner

from textgate.cli import app
from textgate.connectors.base import Submission
from textgate.connectors.smpp.connector import SmppConnector, SmppOptions
from textgate.connectors.smpp.constants import CommandStatus
from textgate.connectors.smpp.pdus import DeliverSmResp, SubmitSm
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

    async def wait_for(self, count: int, timeout: float = 3.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.reports) < count:
                self.arrived.clear()
                await self.arrived.wait()


async def eventually(check: Callable[[], bool], timeout: float = 2.0) -> bool:
    for _ in range(int(timeout / 0.01)):
        if check():
            return True
        await asyncio.sleep(0.01)
    return check()


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
            response_timeout=2.0,
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


async def test_wrong_password_is_refused(smsc: Smsc, sink: Sink) -> None:
    conn = _connector(smsc, password="wrong")
    with pytest.raises(ConnectorError, match="RINVPASWD") as info:
        await conn.start(sink)
    assert not info.value.retryable
    assert smsc.bound_sessions == 0


async def test_unknown_system_id_is_refused(smsc: Smsc, sink: Sink) -> None:
    conn = SmppConnector("x", SmppOptions(port=smsc.port, system_id="who", password="x"))
    with pytest.raises(ConnectorError, match="RINVSYSID") as info:
        await conn.start(sink)
    assert not info.value.retryable


async def test_submit_before_bind(smsc: Smsc) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", smsc.port)
    async with Session(reader, writer, enquire_link_interval=None) as session:
        resp = await session.request(
            SubmitSm(sequence_number=0, destination_addr="4915100000", short_message=b"hi")
        )
        assert resp.command_status == CommandStatus.ESME_RINVBNDSTS
    assert smsc.submitted == 0


async def test_throttle_every(sink: Sink) -> None:
    smsc = await _smsc(throttle_every=2)
    conn = _connector(smsc)
    try:
        await conn.start(sink)
        outcomes = [(await conn.submit([sub(f"m{i}", message_id=f"m{i}")]))[0] for i in range(4)]
        assert [o.error is None for o in outcomes] == [True, False, True, False]
        for o in outcomes[1::2]:
            assert o.error is not None and o.error.retryable
        assert smsc.throttled == 2
        assert smsc.submitted == 2
    finally:
        await conn.stop()
        await smsc.stop()


async def test_reject_prefix(sink: Sink) -> None:
    smsc = await _smsc(reject_prefix="999")
    conn = _connector(smsc)
    try:
        await conn.start(sink)
        bad, good = await conn.submit(
            [sub("x", recipient="+999123", message_id="b"), sub("y", message_id="g")]
        )
        assert bad.error is not None and not bad.error.retryable
        assert good.error is None
        assert smsc.rejected == 1
    finally:
        await conn.stop()
        await smsc.stop()


async def test_send_mo(smsc: Smsc, conn: SmppConnector) -> None:
    resp = await smsc.send_mo("100", "+4915100000", "hello textgate")
    assert isinstance(resp, DeliverSmResp)
    assert resp.command_status == CommandStatus.ESME_ROK
    long_resp = await smsc.send_mo("100", "4915100000", "ü" * 200)
    assert long_resp.command_status == CommandStatus.ESME_ROK
    assert smsc.mo_sent == 2


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
    assert "--receipt-delay-ms" in result.output
    assert "--account" in result.output
