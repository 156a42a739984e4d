"""SMPP session engine and client bind, against the tiny SMSC in ``peer.py`` (same Session)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest

from tests.connectors.smpp.peer import FakeSmsc, running_smsc, until
from tests.support import WAIT
from textgate.connectors.smpp.client import bind
from textgate.connectors.smpp.constants import CommandId, CommandStatus
from textgate.connectors.smpp.pdus import (
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    decode,
    encode,
)
from textgate.connectors.smpp.session import Session
from textgate.connectors.smpp.window import Window
from textgate.errors import ConnectorError


@pytest.fixture
async def smsc() -> AsyncIterator[FakeSmsc]:
    async with running_smsc() as s:
        yield s


def submit(dest: str = "4915100000", text: bytes = b"hi") -> SubmitSm:
    return SubmitSm(sequence_number=0, destination_addr=dest, short_message=text)


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


async def read_pdu(reader: asyncio.StreamReader) -> Pdu:
    header = await asyncio.wait_for(reader.readexactly(16), WAIT)
    length = struct.unpack(">I", header[:4])[0]
    body = await asyncio.wait_for(reader.readexactly(length - 16), WAIT)
    return decode(header + body)


async def test_bind_ok_and_unbind(smsc: FakeSmsc) -> None:
    session = await bind("127.0.0.1", smsc.port, system_id="esme", password="secret")
    assert not session.closed
    resp = await session.request(submit())
    assert isinstance(resp, SubmitSmResp) and resp.message_id
    await session.unbind(timeout=1)
    assert session.closed
    await asyncio.wait_for(smsc.sessions[0].wait_closed(), WAIT)


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [("esme", "wrong", "ESME_RINVPASWD"), ("nobody", "secret", "ESME_RINVSYSID")],
)
async def test_bind_refused_is_not_retryable(
    smsc: FakeSmsc, system_id: str, password: str, status: str
) -> None:
    with pytest.raises(ConnectorError, match=status) as info:
        await bind("127.0.0.1", smsc.port, system_id=system_id, password=password)
    assert info.value.retryable is False
    await asyncio.wait_for(smsc.sessions[0].wait_closed(), WAIT)


async def test_connect_refused_is_retryable() -> None:
    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(ConnectorError) as info:
        await bind("127.0.0.1", port, system_id="esme", password="secret", connect_timeout=1)
    assert info.value.retryable is True


async def test_pipelined_submits_respect_window() -> None:
    async with running_smsc(submit_delay=0.01) as smsc:
        session = await bind("127.0.0.1", smsc.port, system_id="esme", password="secret", window=10)
        try:
            responses = await asyncio.wait_for(
                asyncio.gather(*(session.request(submit(text=b"%d" % i)) for i in range(300))),
                WAIT,
            )
        finally:
            await session.unbind(timeout=1)
    assert all(isinstance(r, SubmitSmResp) and r.command_status == 0 for r in responses)
    ids = {r.message_id for r in responses if isinstance(r, SubmitSmResp)}
    assert len(ids) == 300
    assert 1 < smsc.max_outstanding <= 10
    seqs = [p.sequence_number for p in smsc.received if isinstance(p, SubmitSm)]
    assert len(set(seqs)) == 300


async def test_response_timeout_is_retryable_and_session_stays_usable(smsc: FakeSmsc) -> None:
    session = await bind("127.0.0.1", smsc.port, system_id="esme", password="secret")
    try:
        with pytest.raises(ConnectorError, match="timeout") as info:
            await session.request(submit("drop"), timeout=0.2)
        assert info.value.retryable is True
        # A late response (slow_delay 0.3 s > 0.1 s) is dropped, not misrouted.
        with pytest.raises(ConnectorError, match="timeout"):
            await session.request(submit("slow"), timeout=0.1)
        assert session.outstanding == 0
        resp = await session.request(submit())
        assert isinstance(resp, SubmitSmResp) and resp.command_status == 0
        # The late submit_sm_resp goes out before the next one's, and is ignored.
        await until(lambda: any(p.destination_addr == "slow" for p in smsc.accepted))
        resp = await session.request(submit())
        assert isinstance(resp, SubmitSmResp)
        assert not session.closed
    finally:
        await session.unbind(timeout=1)


async def test_server_pushes_deliver_sm(smsc: FakeSmsc) -> None:
    got: list[Pdu] = []

    async def handler(pdu: Pdu) -> Pdu | None:
        got.append(pdu)
        return DeliverSmResp(sequence_number=pdu.sequence_number)

    session = await bind(
        "127.0.0.1", smsc.port, system_id="esme", password="secret", handler=handler
    )
    try:
        resp = await smsc.push_deliver(b"MO text")
        assert isinstance(resp, DeliverSmResp) and resp.command_status == 0
        assert len(got) == 1 and isinstance(got[0], DeliverSm)
        assert got[0].short_message == b"MO text"
        assert resp.sequence_number == got[0].sequence_number
    finally:
        await session.unbind(timeout=1)


async def test_deliver_sm_without_handler_is_nacked(smsc: FakeSmsc) -> None:
    session = await bind("127.0.0.1", smsc.port, system_id="esme", password="secret")
    try:
        resp = await smsc.push_deliver()
        assert isinstance(resp, GenericNack)
        assert resp.command_status == CommandStatus.ESME_RINVCMDID
    finally:
        await session.unbind(timeout=1)


async def test_enquire_link_answered(smsc: FakeSmsc) -> None:
    session = await bind("127.0.0.1", smsc.port, system_id="esme", password="secret")
    try:
        resp = await session.request(lambda seq: EnquireLink(sequence_number=seq))
        assert isinstance(resp, EnquireLinkResp)
        resp = await smsc.sessions[0].request(EnquireLink(sequence_number=0), timeout=WAIT)
        assert isinstance(resp, EnquireLinkResp)
    finally:
        await session.unbind(timeout=1)


async def test_keepalive_sends_enquire_link() -> None:
    """A quiet link: enquire_link after each quiet interval, one at a time, each answered."""
    asked: list[Pdu] = []

    async def answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                pdu = await read_pdu(reader)
                asked.append(pdu)
                writer.write(encode(EnquireLinkResp(sequence_number=pdu.sequence_number)))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the session under test hung up
        finally:
            writer.close()

    server = await asyncio.start_server(answering, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with Session(
            reader, writer, enquire_link_interval=0.05, response_timeout=WAIT
        ) as session:
            # The third is sent only once the second was answered.
            await until(lambda: len(asked) >= 3)
            assert not session.closed
            assert all(isinstance(p, EnquireLink) for p in asked)
    finally:
        server.close()
        await server.wait_closed()


async def test_keepalive_unanswered_closes_session() -> None:
    """A peer that reads but never answers: the enquire_link times out, the session closes."""
    conns: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.append(writer)
        while await reader.read(1024):
            pass
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        session = Session(reader, writer, enquire_link_interval=0.05, response_timeout=0.1)
        await asyncio.wait_for(session.wait_closed(), WAIT)
        assert session.closed
    finally:
        server.close()
        await server.wait_closed()


async def test_undecodable_pdu_gets_generic_nack(smsc: FakeSmsc) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", smsc.port)
    try:
        writer.write(struct.pack(">IIII", 16, 0x00000099, 0, 7))  # unknown command_id
        await writer.drain()
        nack = await read_pdu(reader)
        assert isinstance(nack, GenericNack)
        assert nack.command_status == CommandStatus.ESME_RINVCMDID
        assert nack.sequence_number == 7
        # The session keeps going.
        writer.write(encode(EnquireLink(sequence_number=8)))
        await writer.drain()
        resp = await read_pdu(reader)
        assert isinstance(resp, EnquireLinkResp) and resp.sequence_number == 8
        # A bad body (sm_length past the end) is nacked with the decoder's status.
        raw = bytearray(encode(submit()))
        raw[-3] = 200  # sm_length of b"hi"
        writer.write(bytes(raw))
        await writer.drain()
        nack = await read_pdu(reader)
        assert isinstance(nack, GenericNack)
        assert nack.command_status == CommandStatus.ESME_RINVMSGLEN
    finally:
        writer.close()
        await writer.wait_closed()
    await asyncio.wait_for(smsc.sessions[0].wait_closed(), WAIT)


async def test_bad_command_length_nacks_and_closes(smsc: FakeSmsc) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", smsc.port)
    try:
        writer.write(struct.pack(">IIII", 5, CommandId.ENQUIRE_LINK, 0, 3))
        await writer.drain()
        nack = await read_pdu(reader)
        assert isinstance(nack, GenericNack)
        assert nack.command_status == CommandStatus.ESME_RINVCMDLEN
        assert await asyncio.wait_for(reader.read(), WAIT) == b""  # the SMSC hung up
    finally:
        writer.close()
        await writer.wait_closed()
    await asyncio.wait_for(smsc.sessions[0].wait_closed(), WAIT)


async def test_server_unbinds_client(smsc: FakeSmsc) -> None:
    session = await bind("127.0.0.1", smsc.port, system_id="esme", password="secret")
    await smsc.sessions[0].unbind(timeout=1)
    await asyncio.wait_for(session.wait_closed(), WAIT)
    assert session.closed
    with pytest.raises(ConnectorError) as info:
        await session.request(submit())
    assert info.value.retryable is True


async def test_server_drop_fails_pending_requests(smsc: FakeSmsc) -> None:
    session = await bind("127.0.0.1", smsc.port, system_id="esme", password="secret")
    try:
        # Never answered: they fail when the link drops (their timeout is far off).
        tasks = [
            asyncio.create_task(session.request(submit("drop"), timeout=WAIT)) for _ in range(3)
        ]
        await until(lambda: len(smsc.submits) == 3)
        await smsc.sessions[0].close()  # socket closed without unbind
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), WAIT)
        for result in results:
            assert isinstance(result, ConnectorError) and result.retryable is True
        await asyncio.wait_for(session.wait_closed(), WAIT)
    finally:
        await session.close()


async def test_window_waiters_fail_when_session_closes(smsc: FakeSmsc) -> None:
    session = await bind("127.0.0.1", smsc.port, system_id="esme", password="secret", window=2)
    tasks = [asyncio.create_task(session.request(submit("drop"), timeout=WAIT)) for _ in range(5)]
    await until(lambda: len(smsc.submits) == 2)
    assert session.outstanding == 2  # the other three wait for the window
    await session.close()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), WAIT)
    assert all(isinstance(r, ConnectorError) and r.retryable for r in results)


async def test_sequence_numbers_wrap() -> None:
    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with Session(reader, writer, enquire_link_interval=None) as session:
            session._requests.next_seq = 0x7FFFFFFF
            assert [session._requests.take_seq() for _ in range(3)] == [0x7FFFFFFF, 1, 2]
            await asyncio.wait_for(session.wait_closed(), WAIT)  # the peer hung up
    finally:
        server.close()
        await server.wait_closed()


async def test_window_is_first_come_first_served_and_survives_cancellation() -> None:
    window = Window(1)
    await window.acquire()
    order: list[str] = []

    async def take(name: str) -> None:
        await window.acquire()
        order.append(name)

    first = asyncio.ensure_future(take("first"))
    cancelled = asyncio.ensure_future(take("cancelled"))
    last = asyncio.ensure_future(take("last"))
    await asyncio.sleep(0)
    assert window.waiting == 3
    cancelled.cancel()
    window.release()  # to "first"
    await asyncio.sleep(0)
    assert order == ["first"]
    window.release()  # skips the cancelled waiter
    await asyncio.gather(first, last, return_exceptions=True)
    assert order == ["first", "last"]
    assert cancelled.cancelled()


async def test_window_slot_handed_to_a_cancelled_waiter_is_passed_on() -> None:
    window = Window(1)
    await window.acquire()
    waiter = asyncio.ensure_future(window.acquire())
    other = asyncio.ensure_future(window.acquire())
    await asyncio.sleep(0)
    window.release()  # the slot goes to ``waiter``...
    waiter.cancel()  # ...which is cancelled before it runs
    await asyncio.wait_for(other, WAIT)  # so the slot reaches ``other``
    assert waiter.cancelled()
