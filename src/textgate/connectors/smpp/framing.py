"""Cutting a TCP byte stream into whole SMPP PDUs (SMPP 3.4 section 3.2, command_length)."""

from __future__ import annotations

from textgate.connectors.smpp.constants import CommandStatus, PduError
from textgate.connectors.smpp.pdus import DEFAULT_MAX_PDU_LENGTH, HEADER_LENGTH

__all__ = ["Framer"]

_S = CommandStatus


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
        buf += data
        out: list[bytes] = []
        pos = 0
        while len(buf) - pos >= 4:
            length = int.from_bytes(buf[pos : pos + 4], "big")
            if length < HEADER_LENGTH or length > self.max_length:
                seq = (
                    int.from_bytes(buf[pos + 12 : pos + 16], "big")
                    if len(buf) - pos >= 16
                    else None
                )
                self._error = PduError(
                    _S.ESME_RINVCMDLEN,
                    seq,
                    f"command_length {length} outside {HEADER_LENGTH}-{self.max_length}",
                )
                del buf[:pos]
                if out:
                    return out
                raise self._error
            if len(buf) - pos < length:
                break
            out.append(bytes(buf[pos : pos + length]))
            pos += length
        del buf[:pos]
        return out
