"""Optional parameters (TLVs), SMPP 3.4 5.3.1: 2-octet tag, 2-octet length, value.

TLVs are kept raw and in wire order, so unknown and vendor-specific ones (0x1400-0x3FFF,
5.3.2) survive a decode/encode round trip byte for byte. Typed accessors read and write
integers (1, 2 or 4 octets, big-endian, 3.1) and C-Octet String values.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from textgate.connectors.smpp.constants import CommandStatus, PduError

__all__ = ["Tlvs", "decode_tlvs"]

_MAX_VALUE = 0xFFFF
_TAG_LENGTH: Final = struct.Struct(">HH")  # 5.3.1: tag, length


@dataclass(frozen=True, slots=True)
class Tlvs:
    """An ordered, immutable sequence of ``(tag, value)`` pairs."""

    items: tuple[tuple[int, bytes], ...] = ()

    def __post_init__(self) -> None:
        for tag, value in self.items:
            if not 0 <= tag <= 0xFFFF:
                raise ValueError(f"TLV tag must be 0-0xFFFF, got {tag}")
            if len(value) > _MAX_VALUE:
                raise ValueError(f"TLV 0x{tag:04X} value is {len(value)} octets, max 65535")

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, tag: object) -> bool:
        return any(t == tag for t, _ in self.items)

    def get(self, tag: int) -> bytes | None:
        """Raw value of the first TLV with this tag, or None."""
        for t, value in self.items:
            if t == tag:
                return value
        return None

    def get_int(self, tag: int) -> int | None:
        """Unsigned big-endian integer value (1, 2 or 4 octets), or None if absent.

        A value of another length raises PduError(ESME_RINVPARLEN).
        """
        value = self.get(tag)
        if value is None:
            return None
        if len(value) not in (1, 2, 4):
            raise PduError(
                CommandStatus.ESME_RINVPARLEN,
                None,
                f"TLV 0x{tag:04X}: integer value of {len(value)} octets",
            )
        return int.from_bytes(value, "big")

    def get_str(self, tag: int) -> str | None:
        """C-Octet String value without its NUL terminator (tolerating a missing one), or None.

        Decoded as Latin-1 so that every octet maps to one character.
        """
        value = self.get(tag)
        if value is None:
            return None
        end = value.find(0)
        return (value if end < 0 else value[:end]).decode("latin-1")

    def with_bytes(self, tag: int, value: bytes) -> Tlvs:
        """A copy where the first TLV with ``tag`` has ``value`` (others with the same tag
        are dropped), or with it appended when absent."""
        out: list[tuple[int, bytes]] = []
        replaced = False
        for t, v in self.items:
            if t == tag:
                if not replaced:
                    out.append((tag, value))
                    replaced = True
            else:
                out.append((t, v))
        if not replaced:
            out.append((tag, value))
        return Tlvs(tuple(out))

    def with_int(self, tag: int, value: int, size: int) -> Tlvs:
        """Set an unsigned integer TLV of ``size`` (1, 2 or 4) octets."""
        if size not in (1, 2, 4):
            raise ValueError(f"integer TLV size must be 1, 2 or 4, got {size}")
        if not 0 <= value < 1 << (8 * size):
            raise ValueError(f"{value} does not fit in {size} octets")
        return self.with_bytes(tag, value.to_bytes(size, "big"))

    def with_str(self, tag: int, value: str) -> Tlvs:
        """Set a C-Octet String TLV (NUL-terminated, Latin-1)."""
        return self.with_bytes(tag, value.encode("latin-1") + b"\x00")

    def without(self, tag: int) -> Tlvs:
        return Tlvs(tuple((t, v) for t, v in self.items if t != tag))

    @classmethod
    def _trusted(cls, items: tuple[tuple[int, bytes], ...]) -> Tlvs:
        """Build from items already known to be valid (read off the wire), skipping the
        checks of ``__post_init__``."""
        tlvs = object.__new__(cls)
        object.__setattr__(tlvs, "items", items)
        return tlvs

    def encode(self) -> bytes:
        pack = _TAG_LENGTH.pack
        return b"".join([pack(t, len(v)) + v for t, v in self.items])


def decode_tlvs(data: bytes, offset: int, sequence_number: int) -> Tlvs:
    """Read TLVs from ``data[offset:]`` to its end (5.3.1).

    A truncated tag/length header or a length running past the PDU raises
    PduError(ESME_RINVOPTPARSTREAM).
    """
    items: list[tuple[int, bytes]] = []
    unpack = _TAG_LENGTH.unpack_from
    end = len(data)
    pos = offset
    while pos < end:
        if end - pos < 4:
            raise PduError(
                CommandStatus.ESME_RINVOPTPARSTREAM,
                sequence_number,
                f"truncated TLV header: {end - pos} octets left at offset {pos}",
            )
        tag, length = unpack(data, pos)
        pos += 4
        if pos + length > end:
            raise PduError(
                CommandStatus.ESME_RINVOPTPARSTREAM,
                sequence_number,
                f"TLV 0x{tag:04X} claims {length} octets, only {end - pos} left",
            )
        items.append((tag, bytes(data[pos : pos + length])))
        pos += length
    # Two octets each: every tag and length read is in range.
    return Tlvs._trusted(tuple(items))
