"""Cutting a TCP byte stream into whole SMPP PDUs (SMPP 3.4 section 3.2, command_length),
and joining outgoing PDUs into as few writes as possible."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable

from textgate.connectors.smpp.constants import CommandStatus, PduError
from textgate.connectors.smpp.pdus import DEFAULT_MAX_PDU_LENGTH, HEADER_LENGTH

__all__ = ["Framer", "WriteQueue"]

_S = CommandStatus
_LENGTH = struct.Struct(">I")  # command_length and sequence_number, 3.2


class Framer:
    """Cuts a byte stream into whole PDUs using command_length (3.2).

    ``feed`` returns the PDUs completed by the new data. A command_length below 16 or above
    ``max_length`` raises PduError(ESME_RINVCMDLEN); it is raised only after every PDU before
    it has been returned (on the next ``feed``), and the framer stays broken afterwards: the
    framing is lost, so the session should send generic_nack and close. Buffered data never
    exceeds ``max_length`` plus the size of one fed chunk.
    """

    def __init__(self, max_length: int = DEFAULT_MAX_PDU_LENGTH) -> None:
        if max_length < HEADER_LENGTH:
            raise ValueError(f"max_length must be at least {HEADER_LENGTH}")
        self.max_length = max_length
        self._buffer = bytearray()
        self._error: PduError | None = None

    @property
    def pending(self) -> int:
        """Octets received that do not yet make a whole PDU."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        if self._error is not None:
            raise self._error
        buf = self._buffer
        if buf:
            # Join the tail of the last chunk once; the frames are then slices of bytes.
            buf += data
            data = bytes(buf)
            buf.clear()
        else:
            data = bytes(data)  # no copy when it already is bytes
        end = len(data)
        out: list[bytes] = []
        pos = 0
        while end - pos >= 4:
            (length,) = _LENGTH.unpack_from(data, pos)
            if length < HEADER_LENGTH or length > self.max_length:
                seq = _LENGTH.unpack_from(data, pos + 12)[0] if end - pos >= 16 else None
                self._error = PduError(
                    _S.ESME_RINVCMDLEN,
                    seq,
                    f"command_length {length} outside {HEADER_LENGTH}-{self.max_length}",
                )
                buf += memoryview(data)[pos:]
                if out:
                    return out
                raise self._error
            if end - pos < length:
                break
            # A chunk that is exactly one PDU (common for a lone response) is not copied.
            out.append(data if length == end else data[pos : pos + length])
            pos += length
        if pos < end:
            buf += memoryview(data)[pos:]
        return out


class WriteQueue:
    """Encoded PDUs queued during one turn of the event loop, written in one call at the
    start of the next: a send system call per PDU costs more than the PDU itself.

    It never buffers without bound: :attr:`congested` tells when the transport holds more
    than its high-water mark, and the caller then awaits the writer's ``drain``. A failed
    write is reported to ``on_error`` (the session closes; waiters learn it from there).
    """

    def __init__(self, writer: asyncio.StreamWriter, on_error: Callable[[str], None]) -> None:
        self._writer = writer
        self._on_error = on_error
        self._loop = asyncio.get_running_loop()
        self._queued: list[bytes] = []
        self._handle: asyncio.Handle | None = None
        self._transport = writer.transport
        self._high_water = self._transport.get_write_buffer_limits()[1]

    def put(self, data: bytes) -> None:
        """Queue one encoded PDU; PDUs leave in the order queued."""
        self._queued.append(data)
        if self._handle is None:
            self._handle = self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what is queued now (also called before the transport closes)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        queued = self._queued
        if not queued:
            return
        self._queued = []
        try:
            self._writer.write(queued[0] if len(queued) == 1 else b"".join(queued))
        except (ConnectionError, OSError, RuntimeError) as exc:
            self._on_error(f"write failed: {exc}")

    @property
    def congested(self) -> bool:
        return self._transport.get_write_buffer_size() > self._high_water
