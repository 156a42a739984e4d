"""A gateway with its SMPP server on, and a real SMPP client that textgate did not write
(smpplib, synchronous: every call runs in a thread, the gateway shares the test's loop).

The client's own state checks are bypassed (:meth:`Esme.request` writes the PDU smpplib
encodes straight to the socket), so that a test can send what a misbehaving client would:
a submit_sm before its bind, a second bind.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import smpplib.client
import smpplib.smpp

from tests.support import HTTP_TIMEOUT, Running, running_gateway
from textgate.config import Settings, SmppServerSettings
from textgate.core.clock import Clock, system_clock
from textgate.core.message import Message
from textgate.smpp_server import SmppServer
from textgate.storage.messages import MessageFilter

SYSTEM_ID = "acme_esme"
PASSWORD = "pa55word"
BIND_KINDS = ("transmitter", "receiver", "transceiver")
NUMBER = "+33612345678"
CANCEL_SM, CANCEL_SM_RESP = 0x00000008, 0x80000008  # SMPP 3.4 5.1.2
REPLACE_SM, REPLACE_SM_RESP = 0x00000007, 0x80000007  # SMPP 3.4 5.1.2


@dataclass
class Env:
    running: Running
    port: int
    account_id: str
    clients: list[Esme] = field(default_factory=list)

    @property
    def services(self) -> Any:
        return self.running.gateway.services

    @property
    def server(self) -> SmppServer:
        server = self.running.gateway.smpp
        assert server is not None
        return server

    async def messages(self) -> list[Message]:
        found = await self.services.messages.search(self.account_id, MessageFilter(), limit=1000)
        return sorted(found, key=lambda m: m.id)

    def esme(self) -> Esme:
        esme = Esme(self.port)
        self.clients.append(esme)
        return esme


@contextlib.asynccontextmanager
async def smpp_gateway(
    settings: Settings,
    *,
    smpp: Mapping[str, Any] | None = None,
    new_account: bool = True,
    clock: Clock = system_clock,
) -> AsyncIterator[Env]:
    """A gateway whose SMPP server listens on a free loopback port, with an account
    ``acme`` that binds as SYSTEM_ID / PASSWORD (made unless ``new_account`` is False: a
    gateway started again on the same database)."""
    # Port 0: the server takes a free port as it binds (one picked beforehand could be
    # taken by another process in between).
    server = SmppServerSettings(**({"enabled": True, "port": 0} | dict(smpp or {})))
    async with running_gateway(
        settings.model_copy(update={"smpp_server": server}), clock=clock
    ) as running:
        services = running.gateway.services
        if new_account:
            account = await services.accounts.create("acme")
            await services.smpp_logins.set_login(account.id, SYSTEM_ID, PASSWORD)
        else:
            account = await services.accounts.by_name("acme")
        assert running.gateway.smpp is not None
        env = Env(running, running.gateway.smpp.port, account.id)
        try:
            yield env
        finally:
            for esme in env.clients:
                await esme.call("close")


@dataclass(frozen=True)
class Delivered:
    """A deliver_sm the server sent, as smpplib read it."""

    esm_class: int
    source_addr: str
    destination_addr: str
    data_coding: int
    short_message: bytes
    message_payload: bytes | None
    receipted_message_id: str | None
    message_state: int | None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


@dataclass(frozen=True)
class Answer:
    command: str
    status: int
    message_id: str = ""


class Esme:
    """One smpplib client connection (blocking: call it through :meth:`call`)."""

    def __init__(self, port: int) -> None:
        self.client = smpplib.client.Client(
            "127.0.0.1", port, timeout=HTTP_TIMEOUT, allow_unknown_opt_params=True
        )

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self, method), *args, **kwargs)

    def connect(self) -> None:
        self.client.connect()

    def request(self, command: str, **fields: Any) -> Answer:
        """Send one request as smpplib encodes it; its response."""
        pdu = smpplib.smpp.make_pdu(command, client=self.client, **fields)
        assert self.client._socket is not None
        self.client._socket.sendall(pdu.generate())
        return self.read()

    def read(self) -> Answer:
        resp = self.client.read_pdu()
        message_id = getattr(resp, "message_id", None) or b""
        if isinstance(message_id, bytes):
            message_id = message_id.decode()
        return Answer(resp.command, int(resp.status), message_id)

    def answer_unbind(self) -> Answer:
        """Read the server's unbind and answer it, as a well-behaved client does."""
        unbind = self.client.read_pdu()
        resp = smpplib.smpp.make_pdu("unbind_resp", client=self.client)
        resp.sequence = unbind.sequence
        assert self.client._socket is not None
        self.client._socket.sendall(resp.generate())
        return Answer(unbind.command, int(unbind.status))

    def query(self, message_id: str) -> tuple[str, int, int, str, int]:
        """query_sm: the response's command, status, message_state, final_date and
        error_code."""
        pdu = smpplib.smpp.make_pdu(
            "query_sm",
            client=self.client,
            message_id=message_id,
            source_addr_ton=5,
            source_addr="ACME",
        )
        assert self.client._socket is not None
        self.client._socket.sendall(pdu.generate())
        resp = self.client.read_pdu()
        return (
            resp.command,
            int(resp.status),
            int(getattr(resp, "message_state", 0) or 0),
            _text(getattr(resp, "final_date", "")),
            int(getattr(resp, "error_code", 0) or 0),
        )

    def cancel(self, message_id: str) -> tuple[int, int]:
        """cancel_sm (4.9.1), which smpplib does not know, written by hand: the response's
        command_id and command_status."""
        body = (
            b"\0"  # service_type
            + message_id.encode()
            + b"\0"
            + bytes([5, 0])
            + b"ACME\0"  # source_addr_ton, _npi, source_addr
            + bytes([1, 1])
            + NUMBER[1:].encode()
            + b"\0"  # dest_addr_ton, _npi, addr
        )
        return self._by_hand(CANCEL_SM, body)

    def replace(
        self,
        message_id: str,
        short_message: bytes = b"",
        *,
        schedule: str = "",
        validity: str = "",
        registered_delivery: int = 0,
        default_msg_id: int = 0,
    ) -> tuple[int, int]:
        """replace_sm (4.10.1), which smpplib does not know either, written by hand: the
        response's command_id and command_status."""
        body = (
            message_id.encode()
            + b"\0"
            + bytes([5, 0])
            + b"ACME\0"  # source_addr_ton, _npi, source_addr
            + schedule.encode()
            + b"\0"
            + validity.encode()
            + b"\0"
            + bytes([registered_delivery, default_msg_id, len(short_message)])
            + short_message
        )
        return self._by_hand(REPLACE_SM, body)

    def _by_hand(self, command: int, body: bytes) -> tuple[int, int]:
        """Send a request smpplib cannot make; the response's command_id and status."""
        sequence = self.client.next_sequence()
        header = struct.pack(">LLLL", 16 + len(body), command, 0, sequence)
        assert self.client._socket is not None
        self.client._socket.sendall(header + body)
        length, command_id, status, answered = struct.unpack(">LLLL", self._exactly(16))
        self._exactly(length - 16)
        assert answered == sequence
        return command_id, status

    def _exactly(self, size: int) -> bytes:
        assert self.client._socket is not None
        data = b""
        while len(data) < size:
            chunk = self.client._socket.recv(size - len(data))
            assert chunk, "the server closed the connection"
            data += chunk
        return data

    def receive(self) -> Delivered:
        """Read the next deliver_sm (answering enquire_link meanwhile) and answer it
        ESME_ROK."""
        assert self.client._socket is not None
        while True:
            pdu = self.client.read_pdu()
            if pdu.command == "enquire_link":
                resp = smpplib.smpp.make_pdu("enquire_link_resp", client=self.client)
                resp.sequence = pdu.sequence
                self.client._socket.sendall(resp.generate())
                continue
            assert pdu.command == "deliver_sm", pdu.command
            resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=self.client)
            resp.sequence = pdu.sequence
            self.client._socket.sendall(resp.generate())
            receipted = getattr(pdu, "receipted_message_id", None)
            return Delivered(
                esm_class=int(pdu.esm_class),
                source_addr=_text(pdu.source_addr),
                destination_addr=_text(pdu.destination_addr),
                data_coding=int(pdu.data_coding),
                short_message=pdu.short_message or b"",
                message_payload=getattr(pdu, "message_payload", None),
                receipted_message_id=None if receipted is None else _text(receipted),
                message_state=getattr(pdu, "message_state", None),
            )

    def bind(self, kind: str, system_id: str = SYSTEM_ID, password: str = PASSWORD) -> Answer:
        return self.request(f"bind_{kind}", system_id=system_id, password=password)

    def submit(self, **fields: Any) -> Answer:
        defaults: dict[str, Any] = {
            "source_addr_ton": 5,
            "source_addr": "ACME",
            "dest_addr_ton": 1,
            "destination_addr": NUMBER.removeprefix("+"),
            "short_message": b"hello",
        }
        return self.request("submit_sm", **(defaults | fields))

    def submit_parts(self, parts: list[bytes], **fields: Any) -> list[Answer]:
        """Each part in its own submit_sm (esm_class UDHI), each answer read before the
        next part is sent (a window of one, as the simplest clients have)."""
        return [self.submit(short_message=p, esm_class=0x40, **fields) for p in parts]

    def close(self) -> None:
        self.client.disconnect()


async def connected(env: Env) -> Esme:
    esme = env.esme()
    await esme.call("connect")
    return esme


def udh_parts(data: bytes, size: int, ref: int, *, ref16: bool = False) -> list[bytes]:
    """``data`` cut into ``size``-octet parts behind a concatenation UDH (3GPP TS 23.040
    9.2.3.24.1 8-bit reference, .8 16-bit reference)."""
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    total = len(chunks)
    if ref16:
        head = [bytes([6, 0x08, 4, ref >> 8, ref & 0xFF, total, n]) for n in range(1, total + 1)]
    else:
        head = [bytes([5, 0x00, 3, ref, total, n]) for n in range(1, total + 1)]
    return [h + c for h, c in zip(head, chunks, strict=True)]
