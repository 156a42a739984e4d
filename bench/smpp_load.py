"""SMPP customers for the end-to-end benchmark's ``smpp`` mode: binds as a transmitter to
the gateway's SMPP server and keeps a window of submit_sm outstanding on each bind.

The PDUs are written here byte by byte from SMPP 3.4 (not with textgate's own codec), so
the benchmark also checks that the server takes what an independent client sends:

* header (3.2): command_length, command_id, command_status, sequence_number, 4 octets each;
* bind_transmitter (4.1.1): system_id, password, system_type, interface_version 0x34,
  addr_ton, addr_npi, address_range;
* submit_sm (4.4.1): service_type, source TON/NPI/address, destination TON/NPI/address,
  esm_class, protocol_id, priority_flag, schedule_delivery_time, validity_period,
  registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id, sm_length,
  short_message;
* a request from the server (enquire_link, 4.11) is answered with its response, a
  generic_nack (4.3) or any other response is counted as an error.

Closed loop: each bind sends its next submit_sm when a response frees a window slot.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

# Command ids, SMPP 3.4 5.1.2.
BIND_TRANSMITTER, BIND_TRANSMITTER_RESP = 0x00000002, 0x80000002
SUBMIT_SM, SUBMIT_SM_RESP = 0x00000004, 0x80000004
UNBIND, UNBIND_RESP = 0x00000006, 0x80000006
ENQUIRE_LINK = 0x00000015
RESPONSE_BIT = 0x80000000
ESME_ROK = 0x00000000  # 5.1.3
TON_INTERNATIONAL, NPI_E164 = 1, 1  # 5.2.5, 5.2.6
TON_ALPHANUMERIC, NPI_UNKNOWN = 5, 0
HEADER = struct.Struct(">IIII")


def _c(text: str) -> bytes:
    """A C-Octet String (3.1)."""
    return text.encode("ascii") + b"\x00"


def pdu(command_id: int, sequence: int, body: bytes = b"", status: int = 0) -> bytes:
    return HEADER.pack(HEADER.size + len(body), command_id, status, sequence) + body


def bind_transmitter(system_id: str, password: str) -> bytes:
    body = _c(system_id) + _c(password) + _c("") + bytes([0x34, 0, 0]) + _c("")
    return pdu(BIND_TRANSMITTER, 1, body)


def submit_sm_body(sender: str, number: str, text: str) -> bytes:
    """A submit_sm body from an alphanumeric sender to ``number`` (+E.164), GSM text that
    is also ASCII (data_coding 0), no receipt asked for."""
    short = text.encode("ascii")
    return (
        _c("")
        + bytes([TON_ALPHANUMERIC, NPI_UNKNOWN])
        + _c(sender)
        + bytes([TON_INTERNATIONAL, NPI_E164])
        + _c(number.removeprefix("+"))
        + bytes([0, 0, 0])  # esm_class, protocol_id, priority_flag
        + _c("")  # schedule_delivery_time: now
        + _c("")  # validity_period: the SMSC's default
        + bytes([0, 0, 0, 0, len(short)])  # registered_delivery .. sm_length
        + short
    )


@dataclass
class SmppLoad:
    """What the binds saw: submit_sm answered ESME_ROK, refused (by status), errors."""

    submitted: int = 0
    accepted: int = 0
    refused: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    start_mono: float = 0.0
    end_mono: float = 0.0
    start_wall: float = 0.0
    cpu_seconds: float = 0.0


class _Bind(asyncio.Protocol):
    """One transmitter bind: bind, then keep ``window`` submit_sm outstanding until the
    shared list of bodies is used up, then unbind."""

    def __init__(self, bodies: list[bytes], result: SmppLoad, window: int) -> None:
        self._bodies = bodies
        self._result = result
        self._window = window
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._sent: dict[int, float] = {}
        self._sequence = 1
        self.bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def write(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.write(data)

    def start(self) -> None:
        for _ in range(self._window):
            if not self._send_next():
                break
        self._maybe_unbind()

    def _send_next(self) -> bool:
        if not self._bodies:
            return False
        body = self._bodies.pop()
        self._sequence += 1
        self._sent[self._sequence] = time.perf_counter()
        self._result.submitted += 1
        self.write(pdu(SUBMIT_SM, self._sequence, body))
        return True

    def _maybe_unbind(self) -> None:
        if not self._sent and not self._bodies and not self.done.done():
            self._sequence += 1
            self.write(pdu(UNBIND, self._sequence))

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while len(buf) >= HEADER.size:
            length, command_id, status, sequence = HEADER.unpack_from(buf)
            if len(buf) < length:
                return
            body = bytes(buf[HEADER.size : length])
            del buf[:length]
            self._on_pdu(command_id, status, sequence, body)

    def _on_pdu(self, command_id: int, status: int, sequence: int, body: bytes) -> None:
        res = self._result
        if command_id == SUBMIT_SM_RESP:
            sent = self._sent.pop(sequence, None)
            if sent is None:
                res.errors.append(f"submit_sm_resp for unknown sequence {sequence}")
                return
            res.latencies.append(time.perf_counter() - sent)
            res.end_mono = time.monotonic()
            if status == ESME_ROK:
                res.accepted += 1
            else:
                res.refused[status] = res.refused.get(status, 0) + 1
            self._send_next()
            self._maybe_unbind()
        elif command_id == BIND_TRANSMITTER_RESP:
            if not self.bound.done():
                self.bound.set_result(status)
        elif command_id == UNBIND_RESP:
            if not self.done.done():
                self.done.set_result(None)
            assert self._transport is not None
            self._transport.close()
        elif not command_id & RESPONSE_BIT:
            # enquire_link (4.11.1) and any other request: answer it (its response id).
            self.write(pdu(command_id | RESPONSE_BIT, sequence))
        else:
            res.errors.append(f"unexpected PDU 0x{command_id:08X} status 0x{status:08X}")

    def connection_lost(self, exc: Exception | None) -> None:
        if self._sent:
            self._result.errors.append(
                f"connection lost with {len(self._sent)} submit_sm unanswered: {exc!r}"
            )
        for fut in (self.bound, self.done):
            if not fut.done():
                fut.set_exception(ConnectionError(f"connection lost: {exc!r}"))


async def run_smpp_load(
    host: str,
    port: int,
    system_id: str,
    password: str,
    bodies: Sequence[bytes],
    *,
    binds: int,
    window: int,
    max_seconds: float,
) -> SmppLoad:
    """Send every submit_sm body over ``binds`` transmitter binds, ``window`` outstanding
    on each; the clock starts once every bind is bound."""
    loop = asyncio.get_running_loop()
    result = SmppLoad()
    # Popped from the end: reversed so that the messages go in order.
    work = list(reversed(bodies))
    protocols: list[_Bind] = []
    for _ in range(binds):
        _, proto = await loop.create_connection(lambda: _Bind(work, result, window), host, port)
        proto.write(bind_transmitter(system_id, password))
        protocols.append(proto)
    for proto in protocols:
        status = await asyncio.wait_for(proto.bound, 30)
        if status != ESME_ROK:
            raise RuntimeError(f"bind_transmitter refused: 0x{status:08X}")
    cpu0 = time.process_time()
    result.start_wall = time.time()
    result.start_mono = time.monotonic()
    for proto in protocols:
        proto.start()
    try:
        async with asyncio.timeout(max_seconds):
            await asyncio.gather(*(p.done for p in protocols))
    except TimeoutError:
        result.errors.append(f"submit phase timed out after {max_seconds:.0f}s")
    except ConnectionError as exc:
        result.errors.append(str(exc))
    result.cpu_seconds = time.process_time() - cpu0
    if not result.end_mono:
        result.end_mono = time.monotonic()
    return result
