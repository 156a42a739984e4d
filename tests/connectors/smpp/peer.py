"""A tiny SMSC for session tests, built on the same :class:`Session` as the client.

It authenticates binds (system_id/password), answers submit_sm with a message id after
``submit_delay`` seconds, ignores submit_sm to destination "drop" and answers those to "slow"
after ``slow_delay``; it counts what it receives and the most submit_sm outstanding at once.

For connector tests: ``refuse`` maps a destination prefix to the command_status its submit_sm
is answered with (e.g. ``{"999": ESME_RINVDSTADR}``); ``submits`` lists the submit_sm
received; ``push_receipt`` sends an Appendix B delivery receipt; ``drop`` hangs up on every
client.

Also: ``script`` lists command_status values for the next submit_sm, in order (ESME_ROK
lets one through), ``hold`` names destinations whose submit_sm is answered only once
``release`` is set, ``by_conn`` counts submit_sm per connection (connection ids start at
1), ``accepted`` lists the submit_sm answered ESME_ROK, ``states`` gives the message_state
query_sm reports per message id (ENROUTE if absent; ESME_RQUERYFAIL when the source address
differs from the submit_sm's, SMPP 3.4 4.8.1), and ``push`` sends any request (deliver_sm,
data_sm).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from tests.support import WAIT
from textgate.connectors.smpp.constants import CommandStatus, MessageState
from textgate.connectors.smpp.pdus import (
    BIND_RESPONSE,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DeliverSm,
    GenericNack,
    Pdu,
    QuerySm,
    QuerySmResp,
    SubmitSm,
    SubmitSmResp,
)
from textgate.connectors.smpp.session import Session


class FakeSmsc:
    def __init__(
        self,
        *,
        system_id: str = "esme",
        password: str = "secret",  # noqa: S107 - a test SMSC
        submit_delay: float = 0.0,
        slow_delay: float = 0.3,
    ) -> None:
        self.system_id = system_id
        self.password = password
        self.submit_delay = submit_delay
        self.slow_delay = slow_delay
        self.sessions: list[Session] = []
        self.received: list[Pdu] = []
        self.outstanding = 0
        self.max_outstanding = 0
        self.connected = asyncio.Event()
        self.refuse: dict[str, int] = {}
        self.script: deque[int] = deque()
        self.hold: set[str] = set()
        self.release = asyncio.Event()
        self.by_conn: Counter[int] = Counter()
        self.conns: dict[int, Session] = {}
        self.accepted: list[SubmitSm] = []
        self.by_id: dict[str, SubmitSm] = {}
        self.states: dict[str, int] = {}
        self._conn_ids = itertools.count(1)
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.close()
        for session in self.sessions:
            await session.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cid = next(self._conn_ids)

        async def handle(pdu: Pdu) -> Pdu | None:
            return await self._handle(pdu, cid)

        session = Session(reader, writer, handler=handle, enquire_link_interval=None, name="smsc")
        self.sessions.append(session)
        self.conns[cid] = session
        self.connected.set()
        await session.wait_closed()

    async def _handle(self, pdu: Pdu, cid: int = 0) -> Pdu | None:
        self.received.append(pdu)
        seq = pdu.sequence_number
        if isinstance(pdu, BindTransceiver | BindTransmitter | BindReceiver):
            resp_cls = BIND_RESPONSE[type(pdu)]
            if pdu.system_id != self.system_id:
                status = CommandStatus.ESME_RINVSYSID
            elif pdu.password != self.password:
                status = CommandStatus.ESME_RINVPASWD
            else:
                status = CommandStatus.ESME_ROK
            return resp_cls(sequence_number=seq, command_status=status, system_id="fakesmsc")
        if isinstance(pdu, QuerySm):
            return self._query(pdu)
        if isinstance(pdu, SubmitSm):
            self.by_conn[cid] += 1
            if pdu.destination_addr == "drop":
                return None
            if self.script:
                scripted = self.script.popleft()
                if scripted != CommandStatus.ESME_ROK:
                    return SubmitSmResp(sequence_number=seq, command_status=scripted)
            if pdu.destination_addr in self.hold:
                await self.release.wait()
            for prefix, refusal in self.refuse.items():
                if pdu.destination_addr.startswith(prefix):
                    return SubmitSmResp(sequence_number=seq, command_status=refusal)
            self.outstanding += 1
            self.max_outstanding = max(self.max_outstanding, self.outstanding)
            try:
                delay = self.slow_delay if pdu.destination_addr == "slow" else self.submit_delay
                if delay:
                    await asyncio.sleep(delay)
            finally:
                self.outstanding -= 1
            message_id = f"m{next(self._ids)}"
            self.accepted.append(pdu)
            self.by_id[message_id] = pdu
            return SubmitSmResp(sequence_number=seq, message_id=message_id)
        return GenericNack(sequence_number=seq, command_status=CommandStatus.ESME_RINVCMDID)

    async def push_deliver(self, text: bytes = b"hello", timeout: float = WAIT) -> Pdu:
        """Send deliver_sm to the newest client; return its response."""
        await asyncio.wait_for(self.connected.wait(), timeout)
        pdu = DeliverSm(
            sequence_number=0, source_addr="4912345", destination_addr="100", short_message=text
        )
        return await self.sessions[-1].request(pdu, timeout)

    def _query(self, pdu: QuerySm) -> Pdu:
        original = self.by_id.get(pdu.message_id)
        if original is None or (
            original.source_addr_ton,
            original.source_addr_npi,
            original.source_addr,
        ) != (pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr):
            return QuerySmResp(
                sequence_number=pdu.sequence_number, command_status=CommandStatus.ESME_RQUERYFAIL
            )
        return QuerySmResp(
            sequence_number=pdu.sequence_number,
            message_id=pdu.message_id,
            final_date="261122010130004+",
            message_state=self.states.get(pdu.message_id, MessageState.ENROUTE),
            error_code=0,
        )

    async def push(self, pdu: Pdu, conn: int | None = None, timeout: float = WAIT) -> Pdu:
        """Send a request (a deliver_sm, a data_sm, ...) on connection ``conn`` (default: the
        newest); return the answer."""
        await asyncio.wait_for(self.connected.wait(), timeout)
        session = self.sessions[-1] if conn is None else self.conns[conn]
        return await session.request(pdu, timeout)

    async def drop_conn(self, conn: int) -> None:
        """Hang up on one client connection without unbinding."""
        session = self.conns[conn]
        if session in self.sessions:
            self.sessions.remove(session)
        await session.close()

    @property
    def submits(self) -> list[SubmitSm]:
        return [p for p in self.received if isinstance(p, SubmitSm)]

    async def push_receipt(
        self, message_id: str, stat: str = "DELIVRD", err: str = "000", timeout: float = WAIT
    ) -> Pdu:
        """Send a delivery receipt (esm_class 0x04, Appendix B text) to the newest client;
        return its deliver_sm_resp."""
        await asyncio.wait_for(self.connected.wait(), timeout)
        text = (
            f"id:{message_id} sub:001 dlvrd:001 submit date:2611220100 "
            f"done date:2611220101 stat:{stat} err:{err} text:hello"
        )
        pdu = DeliverSm(
            sequence_number=0,
            source_addr="4912345",
            destination_addr="100",
            esm_class=0x04,
            short_message=text.encode(),
        )
        return await self.sessions[-1].request(pdu, timeout)

    async def drop(self) -> None:
        """Hang up on every client without unbinding."""
        sessions, self.sessions = self.sessions, []
        self.connected.clear()
        for session in sessions:
            await session.close()


class VirtualTime:
    """A clock and a sleep for pacing tests: sleeping advances the clock at once."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait until ``condition()`` holds, failing after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - the state polled has no event of its own
            await asyncio.sleep(0.005)


@asynccontextmanager
async def running_smsc(**kwargs: float | str) -> AsyncIterator[FakeSmsc]:
    smsc = FakeSmsc(**kwargs)  # type: ignore[arg-type]
    await smsc.start()
    try:
        yield smsc
    finally:
        await smsc.close()
