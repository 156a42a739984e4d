"""Helpers for the interoperability tests against third-party SMPP implementations.

The decoding here deliberately does not use textgate's codec: the GSM 03.38 table comes from
smpplib and the UDH parsing is written out from 3GPP TS 23.040 9.2.3.24, so a message that
round-trips through these helpers was understood the same way by an independent reading.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import smpplib.gsm

from tests.support import WAIT

__all__ = [
    "ESM_UDHI",
    "Concat",
    "decode_gsm_unpacked",
    "decode_text",
    "free_port",
    "reassemble",
    "split_udh",
    "wait_until",
]

ESM_UDHI = 0x40
"""5.2.12 esm_class bit 6: short_message starts with a user data header."""

_GSM_ESCAPE = 0x1B
# smpplib's table: 128 basic characters, then the extension table at 0x80 + code, with "`"
# marking the extension codes that have no character.
_GSM_TABLE: str = smpplib.gsm.GSM_CHARACTER_TABLE
_UNUSED = "`"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for servers that take a
    port number and do not report the one they bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


@dataclass(frozen=True, slots=True)
class Concat:
    """Concatenation information element (IE 0x00 or 0x08) of one part."""

    reference: int
    total: int
    sequence: int
    ref16: bool


def split_udh(short_message: bytes, esm_class: int) -> tuple[Concat | None, bytes]:
    """The concatenation IE (if any) and the payload after the user data header."""
    if not esm_class & ESM_UDHI:
        return None, short_message
    if not short_message:
        raise ValueError("UDHI set on an empty short_message")
    udhl = short_message[0]
    header, payload = short_message[1 : 1 + udhl], short_message[1 + udhl :]
    if len(header) != udhl:
        raise ValueError(f"UDH length {udhl} runs past the short_message")
    concat: Concat | None = None
    pos = 0
    while pos < len(header):
        if pos + 2 > len(header):
            raise ValueError("truncated information element")
        iei, length = header[pos], header[pos + 1]
        data = header[pos + 2 : pos + 2 + length]
        if len(data) != length:
            raise ValueError("truncated information element")
        if iei == 0x00 and length == 3:
            concat = Concat(data[0], data[1], data[2], ref16=False)
        elif iei == 0x08 and length == 4:
            concat = Concat(int.from_bytes(data[:2], "big"), data[2], data[3], ref16=True)
        pos += 2 + length
    return concat, payload


def decode_gsm_unpacked(septets: bytes) -> str:
    """GSM 03.38 text, one septet per byte (SMPP data_coding 0), through smpplib's table."""
    out: list[str] = []
    i = 0
    while i < len(septets):
        code = septets[i]
        if code > 0x7F:
            raise ValueError(f"byte 0x{code:02X} is no septet")
        if code == _GSM_ESCAPE:
            if i + 1 >= len(septets):
                raise ValueError("escape at the end of the part")
            char = _GSM_TABLE[0x80 + septets[i + 1]]
            if char == _UNUSED:
                raise ValueError(f"undefined extension code 0x{septets[i + 1]:02X}")
            out.append(char)
            i += 2
            continue
        out.append(_GSM_TABLE[code])
        i += 1
    return "".join(out)


def decode_text(payload: bytes, data_coding: int) -> str:
    """Decode a part's payload: data_coding 0 (GSM 03.38 unpacked) or 8 (UCS-2/UTF-16-BE,
    strict, so a surrogate pair split between parts fails)."""
    if data_coding == 0:
        return decode_gsm_unpacked(payload)
    if data_coding == 8:
        return payload.decode("utf-16-be")
    raise ValueError(f"unexpected data_coding {data_coding}")


def reassemble(parts: Iterable[tuple[Concat, str]]) -> str:
    """Join decoded parts of one message in sequence order, checking they form a whole."""
    ordered = sorted(parts, key=lambda p: p[0].sequence)
    if not ordered:
        raise ValueError("no parts")
    first = ordered[0][0]
    refs = {(c.reference, c.total, c.ref16) for c, _ in ordered}
    if len(refs) != 1:
        raise ValueError(f"parts disagree on reference/total: {sorted(refs)}")
    if [c.sequence for c, _ in ordered] != list(range(1, first.total + 1)):
        raise ValueError(f"parts {[c.sequence for c, _ in ordered]} of {first.total}")
    return "".join(text for _, text in ordered)
