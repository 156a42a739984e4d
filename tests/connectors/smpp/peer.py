"""A tiny SMSC for session tests, built on the same :class:`Session` as the client.

It authenticates binds (system_id/password), answers submit_sm with a message id after
``submit_delay`` seconds, ignores submit_sm to destination "drop" and answers those to "slow"
after ``slow_delay``; it counts what it receives and the most submit_sm outstanding at once.

For connector tests: ``refuse`` maps a destination prefix to the command_status its submit_sm
is answered with (e.g. ``{"999": ESME_RINVDSTADR}``); ``submits`` lists the submit_sm
received; ``push_receipt`` sends an Appendix B delivery receipt; ``drop`` hangs up on every
client.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from textgate.connectors.smpp.constants import CommandStatus
from textgate.connectors.smpp.pdus import (
    BIND_RESPONSE,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DeliverSm,
    GenericNack,
    Pdu,
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
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in self.sessions:
            await session.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(
            reader, writer, handler=self._handle, enquire_link_interval=None, name="smsc"
        )
        self.sessions.append(session)
        self.connected.set()
        await session.wait_closed()

    async def _handle(self, pdu: Pdu) -> Pdu | None:
        self.received.append(pdu)
        seq = pdu.sequence_number
        resp_cls = BIND_RESPONSE.get(type(pdu))  # type: ignore[call-overload]
        if resp_cls is not None:
            assert isinstance(pdu, BindTransceiver | BindTransmitter | BindReceiver)
            if pdu.system_id != self.system_id:
                status = CommandStatus.ESME_RINVSYSID
            elif pdu.password != self.password:
                status = CommandStatus.ESME_RINVPASWD
            else:
                status = CommandStatus.ESME_ROK
            return resp_cls(sequence_number=seq, command_status=status, system_id="fakesmsc")
        if isinstance(pdu, SubmitSm):
            if pdu.destination_addr == "drop":
                return None
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
            return SubmitSmResp(sequence_number=seq, message_id=f"m{next(self._ids)}")
        return GenericNack(sequence_number=seq, command_status=CommandStatus.ESME_RINVCMDID)

    async def push_deliver(self, text: bytes = b"hello", timeout: float = 2.0) -> Pdu:
        """Send deliver_sm to the newest client; return its response."""
        await asyncio.wait_for(self.connected.wait(), timeout)
        pdu = DeliverSm(
            sequence_number=0, source_addr="4912345", destination_addr="100", short_message=text
        )
        return await self.sessions[-1].request(pdu, timeout)

    @property
    def submits(self) -> list[SubmitSm]:
        return [p for p in self.received if isinstance(p, SubmitSm)]

    async def push_receipt(
        self, message_id: str, stat: str = "DELIVRD", err: str = "000", timeout: float = 2.0
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


@asynccontextmanager
async def running_smsc(**kwargs: float | str) -> AsyncIterator[FakeSmsc]:
    smsc = FakeSmsc(**kwargs)  # type: ignore[arg-type]
    await smsc.start()
    try:
        yield smsc
    finally:
        await smsc.close()
