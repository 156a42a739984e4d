"""SmppConnector against an SMPP server textgate did not write: smpp34 (Rust-backed SMPP 3.4).

The smpp34 server runs in-process on 127.0.0.1. For every submit_sm it records what it
received (as smpp34 decoded the PDU), answers with its own message id and, when the
submit_sm asks for one, sends an Appendix B delivery receipt (esm_class 0x04, text only)
back to the same session. The connector must bind, get its parts accepted, and turn the
receipt into a DeliveryReport for the sink.

smpp34's Python server accepts every bind (it exposes no password to check), so the tests
check the system_id the server saw instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import smpp34

from tests.connectors.smpp.interop_support import (
    ESM_UDHI,
    Concat,
    decode_text,
    free_port,
    reassemble,
    split_udh,
    wait_until,
)
from tests.support import WAIT
from textgate.connectors.base import Submission
from textgate.connectors.smpp.connector import SmppConnector, SmppOptions
from textgate.core.message import DeliveryReport, Status

RECIPIENT = "+4915112345678"
SENDER = "Textgate"
SMSC_SYSTEM_ID = "ext-smsc"
ESM_DELIVERY_RECEIPT = 0x04
TAG_MESSAGE_PAYLOAD = 0x0424  # 5.3.2.32


@dataclass(frozen=True, slots=True)
class Received:
    """One submit_sm as the smpp34 server saw it, and the id it answered with."""

    message_id: str
    system_id: str
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    esm_class: int
    data_coding: int
    registered_delivery: int
    short_message: bytes
    message_payload: bytes | None

    @property
    def concat(self) -> Concat | None:
        return split_udh(self.short_message, self.esm_class)[0]

    @property
    def text(self) -> str:
        if self.message_payload is not None:
            return decode_text(self.message_payload, self.data_coding)
        return decode_text(split_udh(self.short_message, self.esm_class)[1], self.data_coding)


@dataclass
class ExternalSmsc:
    """smpp34.Server plus the loop that answers it."""

    server: smpp34.Server
    port: int
    stat: str = "DELIVRD"
    err: str = "000"
    binds: list[smpp34.Esme] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    receipts_acked: list[str] = field(default_factory=list)
    unbound: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _sessions: dict[str, smpp34.Esme] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(0x5A000))
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def serve(self) -> None:
        while True:
            event = await self.server.next()
            if isinstance(event, smpp34.Esme):
                self.binds.append(event)
                self._sessions[event.session_id] = event
            elif isinstance(event, smpp34.SubmitSmEvent):
                self._on_submit(event)
            elif isinstance(event, smpp34.Unbound):
                self.unbound.append(event.session_id)

    def _on_submit(self, event: smpp34.SubmitSmEvent) -> None:
        esme = self._sessions[event.session_id]
        message_id = f"EXT{next(self._ids):X}"
        self.received.append(
            Received(
                message_id=message_id,
                system_id=esme.system_id,
                source_addr=event.source_addr,
                source_addr_ton=event.source_addr_ton,
                source_addr_npi=event.source_addr_npi,
                destination_addr=event.destination_addr,
                dest_addr_ton=event.dest_addr_ton,
                dest_addr_npi=event.dest_addr_npi,
                esm_class=event.esm_class,
                data_coding=event.data_coding,
                registered_delivery=event.registered_delivery,
                short_message=event.short_message,
                message_payload=next(
                    (t.value for t in event.tlvs if t.tag == TAG_MESSAGE_PAYLOAD), None
                ),
            )
        )
        submitted_at = datetime.now(UTC)
        event.accept(message_id=message_id)
        if event.registered_delivery & 0x03 == 1:
            task = asyncio.create_task(self._send_receipt(esme, event, message_id, submitted_at))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send_receipt(
        self,
        esme: smpp34.Esme,
        submit: smpp34.SubmitSmEvent,
        message_id: str,
        submitted_at: datetime,
    ) -> None:
        delivered = self.stat == "DELIVRD"
        text = (
            f"id:{message_id} sub:001 dlvrd:{'001' if delivered else '000'} "
            f"submit date:{submitted_at:%y%m%d%H%M} done date:{submitted_at:%y%m%d%H%M} "
            f"stat:{self.stat} err:{self.err} text:interop"
        )
        try:
            resp = await esme.deliver_sm(
                submit.source_addr,
                text.encode("ascii"),
                source_addr=submit.destination_addr,
                source_addr_ton=submit.dest_addr_ton,
                source_addr_npi=submit.dest_addr_npi,
                dest_addr_ton=submit.source_addr_ton,
                dest_addr_npi=submit.source_addr_npi,
                esm_class=ESM_DELIVERY_RECEIPT,
            )
        except Exception as exc:
            self.errors.append(exc)
            return
        if resp.is_success:
            self.receipts_acked.append(message_id)
        else:
            self.errors.append(AssertionError(f"deliver_sm_resp 0x{resp.command_status:08X}"))

    async def settle(self, timeout: float = WAIT) -> None:
        """Wait until every receipt sent so far has been answered (before the ESME leaves)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.stop()


class Sink:
    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []

    async def __call__(self, reports: Sequence[DeliveryReport]) -> None:
        self.reports.extend(reports)


@pytest.fixture
async def smsc() -> AsyncIterator[ExternalSmsc]:
    server: smpp34.Server | None = None
    port = 0
    failures: list[Exception] = []
    for _ in range(5):  # the free port may be taken between the probe and the bind
        port = free_port()
        candidate = smpp34.Server("127.0.0.1", port, system_id=SMSC_SYSTEM_ID)
        try:
            await candidate.start()
        except Exception as exc:
            failures.append(exc)
        else:
            server = candidate
            break
    assert server is not None, f"smpp34 server did not start: {failures}"
    ext = ExternalSmsc(server=server, port=port)
    serving = asyncio.create_task(ext.serve())
    try:
        yield ext
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await ext.close()
    assert not ext.errors, ext.errors


@pytest.fixture
async def sink() -> Sink:
    return Sink()


@pytest.fixture
async def connector(smsc: ExternalSmsc, sink: Sink) -> AsyncIterator[SmppConnector]:
    conn = SmppConnector(
        "ext",
        SmppOptions(
            host="127.0.0.1",
            port=smsc.port,
            system_id="esme-interop",
            password="secret1",
            response_timeout=WAIT,
            connect_timeout=WAIT,
            reconnect_initial=0.05,
        ),
    )
    await conn.start(sink)
    try:
        await conn.wait_bound(WAIT)
        yield conn
    finally:
        await smsc.settle()
        await conn.stop()


def submission(text: str, *, message_id: str = "m1", encoding: str = "") -> Submission:
    return Submission(message_id, RECIPIENT, SENDER, text, encoding, 1)


def message_parts(received: Sequence[Received]) -> str:
    parts: list[tuple[Concat, str]] = []
    for r in received:
        concat = r.concat
        assert concat is not None, f"part without concatenation IE: {r.short_message.hex()}"
        parts.append((concat, r.text))
    return reassemble(parts)


async def test_bind_is_a_transceiver_with_our_system_id(
    smsc: ExternalSmsc, connector: SmppConnector
) -> None:
    await wait_until(lambda: len(smsc.binds) == 1)
    esme = smsc.binds[0]
    assert esme.system_id == "esme-interop"
    assert esme.can_receive  # a transceiver bind: the SMSC may push deliver_sm
    assert connector.bound


async def test_single_gsm_message_and_its_receipt(
    smsc: ExternalSmsc, connector: SmppConnector, sink: Sink
) -> None:
    text = "Hello from textgate: 5 € [ok] {x} ^~|\\"
    (outcome,) = await connector.submit([submission(text)])

    assert outcome.error is None
    (got,) = smsc.received
    assert outcome.external_id == got.message_id
    assert got.system_id == "esme-interop"
    assert got.esm_class == 0
    assert got.data_coding == 0
    assert got.text == text
    assert (got.source_addr, got.source_addr_ton, got.source_addr_npi) == (SENDER, 5, 0)
    assert (got.destination_addr, got.dest_addr_ton, got.dest_addr_npi) == (
        RECIPIENT.lstrip("+"),
        1,
        1,
    )
    assert got.registered_delivery & 0x03 == 1

    await wait_until(lambda: len(sink.reports) == 1)
    (report,) = sink.reports
    assert report.connector == "ext"
    assert report.external_id == got.message_id
    assert report.status is Status.DELIVERED
    assert report.error_code is None
    assert report.at.tzinfo is not None
    await wait_until(lambda: smsc.receipts_acked == [got.message_id])


@pytest.mark.parametrize(("mode", "ref16"), [("udh", False), ("udh16", True)])
async def test_long_gsm_message_in_udh_parts(
    smsc: ExternalSmsc, sink: Sink, mode: str, ref16: bool
) -> None:
    text = "Long GSM message with extension characters € [ ] { } ^ ~ | \\ spread over parts. " * 6
    conn = SmppConnector(
        "ext",
        SmppOptions(port=smsc.port, system_id="esme-long", password="pw", long_messages=mode),
    )
    await conn.start(sink)
    try:
        (outcome,) = await conn.submit([submission(text)])
        assert outcome.error is None
        parts = smsc.received
        assert len(parts) >= 3
        for part in parts:
            assert part.esm_class & ESM_UDHI
            assert part.data_coding == 0
            concat = part.concat
            assert concat is not None and concat.ref16 is ref16
            # One part: at most 160 septets including the UDH (6 or 7 octets = 7 or 8 septets).
            udh_septets = 8 if ref16 else 7
            payload = split_udh(part.short_message, part.esm_class)[1]
            assert len(payload) + udh_septets <= 160
        assert message_parts(parts) == text
        # Only the last part asks for a receipt, and its id is the message's.
        assert [p.registered_delivery & 0x03 for p in parts] == [0] * (len(parts) - 1) + [1]
        assert outcome.external_id == parts[-1].message_id

        await wait_until(lambda: len(sink.reports) == 1)
        assert sink.reports[0].external_id == parts[-1].message_id
        assert sink.reports[0].status is Status.DELIVERED
    finally:
        await smsc.settle()
        await conn.stop()


async def test_ucs2_message_with_emoji_in_parts(
    smsc: ExternalSmsc, connector: SmppConnector, sink: Sink
) -> None:
    text = "Grüße 😀 из Москвы 🎉 — ✓ 👍🏽 " * 6
    (outcome,) = await connector.submit([submission(text)])

    assert outcome.error is None
    parts = smsc.received
    assert len(parts) >= 2
    for part in parts:
        assert part.data_coding == 8
        assert part.esm_class & ESM_UDHI
        payload = split_udh(part.short_message, part.esm_class)[1]
        assert len(part.short_message) <= 140
        assert len(payload) % 2 == 0
        # Each part decodes on its own: no surrogate pair is split between parts.
        assert part.text
    assert message_parts(parts) == text
    assert outcome.external_id == parts[-1].message_id
    await wait_until(lambda: len(sink.reports) == 1)
    assert sink.reports[0].external_id == parts[-1].message_id


async def test_long_message_in_message_payload(smsc: ExternalSmsc, sink: Sink) -> None:
    text = "One submit_sm, the whole text in message_payload: € [ ] 😀 " * 5
    conn = SmppConnector(
        "ext",
        SmppOptions(
            port=smsc.port, system_id="esme-payload", password="pw", long_messages="payload"
        ),
    )
    await conn.start(sink)
    try:
        (outcome,) = await conn.submit([submission(text)])
        assert outcome.error is None
        (got,) = smsc.received
        assert got.short_message == b""
        assert got.message_payload is not None
        assert (got.esm_class, got.data_coding) == (0, 8)
        assert got.text == text
        assert outcome.external_id == got.message_id
        await wait_until(lambda: len(sink.reports) == 1)
        assert sink.reports[0].external_id == got.message_id
    finally:
        await smsc.settle()
        await conn.stop()


async def test_short_ucs2_message_is_one_plain_part(
    smsc: ExternalSmsc, connector: SmppConnector
) -> None:
    text = "Hi 👋 Zoë"
    (outcome,) = await connector.submit([submission(text)])
    assert outcome.error is None
    (got,) = smsc.received
    assert (got.esm_class, got.data_coding) == (0, 8)
    assert got.short_message == text.encode("utf-16-be")


async def test_undelivered_receipt_maps_to_a_failure_with_its_error_code(
    smsc: ExternalSmsc, connector: SmppConnector, sink: Sink
) -> None:
    smsc.stat, smsc.err = "UNDELIV", "005"
    (outcome,) = await connector.submit([submission("Will not arrive")])
    assert outcome.error is None
    await wait_until(lambda: len(sink.reports) == 1)
    (report,) = sink.reports
    assert report.external_id == outcome.external_id
    assert report.status is Status.UNDELIVERED
    assert report.error_code == "005"


async def test_a_batch_goes_through_one_bind(
    smsc: ExternalSmsc, connector: SmppConnector, sink: Sink
) -> None:
    texts = [f"Batch message {i} ä€" for i in range(10)]
    outcomes = await connector.submit(
        [submission(t, message_id=f"b{i}") for i, t in enumerate(texts)]
    )
    assert [o.message_id for o in outcomes] == [f"b{i}" for i in range(10)]
    assert all(o.error is None for o in outcomes)
    by_id = {r.message_id: r for r in smsc.received}
    assert sorted(by_id[o.external_id or ""].text for o in outcomes) == sorted(texts)
    assert [by_id[o.external_id or ""].text for o in outcomes] == texts
    await wait_until(lambda: len(sink.reports) == 10)
    assert {r.external_id for r in sink.reports} == set(by_id)
    assert len(smsc.binds) == 1
