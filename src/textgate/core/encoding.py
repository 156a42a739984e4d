"""Character encoding and segmentation of SMS text (GSM-7 / UCS-2), and concatenation UDHs.

References:

- 3GPP TS 23.038 section 6.2.1 / 6.2.1.1: the GSM 7-bit default alphabet and its extension
  table (tables in ``core.gsm7``), section 6.1.2.1: packing septets into octets.
- 3GPP TS 23.040 section 9.2.3.24: user data header layout and the fill bits that align the
  first septet after a UDH; 9.2.3.24.1: concatenated SM, 8-bit reference (IEI 0x00);
  9.2.3.24.8: concatenated SM, 16-bit reference (IEI 0x08).

Capacities follow from the 140-octet user data field: 160 septets or 70 UTF-16 code units in
a single message; a concatenation UDH of 6 octets (8-bit ref) leaves 153 septets / 67 units,
one of 7 octets (16-bit ref) leaves 152 septets / 66 units. GSM-7 extension characters take
two septets (ESC + code) and astral-plane characters two UTF-16 units (a surrogate pair);
neither pair is ever split across parts, because a handset would show garbage at the seam.

``segment`` runs for every submitted message, so it avoids per-character Python loops: a
precompiled regular expression classifies the text in one C-level pass, and parts are cut
on an expanded copy of the text (``str.translate`` / ``str.encode``) whose length equals the
unit count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from textgate.core.gsm7 import (
    BASIC_TABLE,
    ESC,
    EXTENSION_TABLE,
    GSM7_BASIC_CHARS,
    GSM7_CHARS,
    GSM7_EXTENSION_CHARS,
)
from textgate.errors import InvalidRequest

__all__ = [
    "GSM7_MULTI_PART",
    "GSM7_MULTI_PART_REF16",
    "GSM7_SINGLE_PART",
    "UCS2_MULTI_PART",
    "UCS2_MULTI_PART_REF16",
    "UCS2_SINGLE_PART",
    "Encoding",
    "Segmentation",
    "choose_encoding",
    "concat_udh",
    "decode_gsm7",
    "encode_gsm7",
    "encode_ucs2",
    "is_gsm7",
    "pack_septets",
    "segment",
    "split_for_udh",
    "unpack_septets",
]


class Encoding(StrEnum):
    """How the text of a message is carried (SMPP data_coding 0 resp. 8)."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"


# Units per part (septets for GSM-7, UTF-16 code units for UCS-2); see the module docstring.
GSM7_SINGLE_PART: Final = 160
GSM7_MULTI_PART: Final = 153
GSM7_MULTI_PART_REF16: Final = 152
UCS2_SINGLE_PART: Final = 70
UCS2_MULTI_PART: Final = 67
UCS2_MULTI_PART_REF16: Final = 66

# A concatenated message numbers its parts in one octet (23.040 9.2.3.24.1), so 255 is the cap.
MAX_PARTS: Final = 255

# 23.040 9.2.3.24.1 / 9.2.3.24.8: IEI, IE length, and the UDH length octet (UDHL) in front.
_IEI_CONCAT_8BIT: Final = 0x00
_IEI_CONCAT_16BIT: Final = 0x08

_ESC_CHAR: Final = chr(ESC)
_UCS2_CODEC: Final = "utf-16-le"  # little-endian only for cutting; the wire uses UTF-16-BE

# One C-level pass answers "is this GSM-7?" and "does it need the extension table?".
_NOT_BASIC = re.compile("[^" + re.escape("".join(sorted(GSM7_BASIC_CHARS))) + "]")
_NOT_GSM7 = re.compile("[^" + re.escape("".join(sorted(GSM7_CHARS))) + "]")
_HAS_EXTENSION = re.compile("[" + re.escape("".join(sorted(GSM7_EXTENSION_CHARS))) + "]")

# Prefix every extension character with ESC: the result has one character per septet, so it
# can be cut at septet offsets and the ESC markers removed again to recover each part's text.
_EXPAND_EXTENSION: Final = str.maketrans({c: _ESC_CHAR + c for c in GSM7_EXTENSION_CHARS})

# Text -> unpacked septets as a str of code points < 0x80 (then .encode("latin-1")).
_ENCODE_TABLE: Final = str.maketrans(
    {
        **{c: chr(code) for code, c in enumerate(BASIC_TABLE) if code != ESC},
        **{c: _ESC_CHAR + chr(code) for code, c in EXTENSION_TABLE.items()},
    }
)
# Unpacked septets (decoded as latin-1) -> text, for runs that contain no ESC.
_DECODE_TABLE: Final = str.maketrans(dict(enumerate(BASIC_TABLE)))


@dataclass(frozen=True, slots=True)
class Segmentation:
    """How a text is split into SMS parts.

    ``parts`` holds the text of each part in order (``("",)`` for empty text, so an empty
    message still counts as one SMS); ``units`` is the total number of septets (GSM-7,
    extension characters counted twice) or UTF-16 code units (UCS-2) of the whole text.
    """

    encoding: Encoding
    parts: tuple[str, ...]
    units: int

    @property
    def count(self) -> int:
        """Number of SMS parts (what is billed and counted against limits)."""
        return len(self.parts)


def is_gsm7(text: str) -> bool:
    """True if every character of ``text`` is in the GSM 7-bit default alphabet or its
    extension table (3GPP TS 23.038 6.2.1 / 6.2.1.1)."""
    return _NOT_GSM7.search(text) is None


def choose_encoding(text: str) -> Encoding:
    """GSM-7 when the text fits the default alphabet, otherwise UCS-2."""
    return Encoding.GSM7 if _NOT_GSM7.search(text) is None else Encoding.UCS2


def segment(text: str, encoding: Encoding | None = None, *, ref16: bool = False) -> Segmentation:
    """Split ``text`` into SMS parts.

    ``encoding=None`` picks GSM-7 when possible, else UCS-2. Forcing ``Encoding.GSM7`` on text
    outside the GSM alphabet raises :class:`InvalidRequest`; forcing UCS-2 is always allowed.
    ``ref16`` sizes multipart messages for a 16-bit concatenation reference (152 / 66 units
    per part instead of 153 / 67). Parts are filled greedily and never end inside an escape
    sequence or a surrogate pair. Text with an unpaired surrogate raises InvalidRequest.
    """
    if encoding is None:
        # Hot path: default-alphabet text without extension characters (most traffic).
        if _NOT_BASIC.search(text) is None:
            multi = GSM7_MULTI_PART_REF16 if ref16 else GSM7_MULTI_PART
            return Segmentation(Encoding.GSM7, _slice(text, GSM7_SINGLE_PART, multi), len(text))
        encoding = choose_encoding(text)
    elif encoding == Encoding.GSM7 and not is_gsm7(text):
        raise InvalidRequest(_not_gsm7_message(text))
    if encoding == Encoding.GSM7:
        return _segment_gsm7(text, GSM7_MULTI_PART_REF16 if ref16 else GSM7_MULTI_PART)
    return _segment_ucs2(text, UCS2_MULTI_PART_REF16 if ref16 else UCS2_MULTI_PART)


def _slice(text: str, single: int, multi: int) -> tuple[str, ...]:
    """Parts of text where every character is one unit."""
    if len(text) <= single:
        return (text,)
    return tuple(text[i : i + multi] for i in range(0, len(text), multi))


def _segment_gsm7(text: str, multi: int) -> Segmentation:
    if _HAS_EXTENSION.search(text) is None:
        return Segmentation(Encoding.GSM7, _slice(text, GSM7_SINGLE_PART, multi), len(text))
    expanded = text.translate(_EXPAND_EXTENSION)
    units = len(expanded)
    if units <= GSM7_SINGLE_PART:
        return Segmentation(Encoding.GSM7, (text,), units)
    parts: list[str] = []
    start = 0
    while start < units:
        end = start + multi
        # An ESC as the last septet would orphan its character: move the pair on.
        if end < units and expanded[end - 1] == _ESC_CHAR:
            end -= 1
        parts.append(expanded[start:end].replace(_ESC_CHAR, ""))
        start = end
    return Segmentation(Encoding.GSM7, tuple(parts), units)


def _segment_ucs2(text: str, multi: int) -> Segmentation:
    try:
        data = text.encode(_UCS2_CODEC)
    except UnicodeEncodeError as exc:
        raise InvalidRequest(
            f"text contains an unpaired surrogate (U+{ord(exc.object[exc.start]):04X}) "
            f"at position {exc.start}"
        ) from None
    units = len(data) // 2
    if units == len(text):  # no surrogate pairs: one unit per character
        return Segmentation(Encoding.UCS2, _slice(text, UCS2_SINGLE_PART, multi), units)
    if units <= UCS2_SINGLE_PART:
        return Segmentation(Encoding.UCS2, (text,), units)
    parts: list[str] = []
    step = 2 * multi
    start = 0
    while start < len(data):
        end = start + step
        # A high surrogate (D800-DBFF; high byte is the second of each LE pair) as the last
        # unit would split an astral character: move the pair on.
        if end < len(data) and 0xD8 <= data[end - 1] <= 0xDB:
            end -= 2
        parts.append(data[start:end].decode(_UCS2_CODEC))
        start = end
    return Segmentation(Encoding.UCS2, tuple(parts), units)


def _not_gsm7_message(text: str) -> str:
    match = _NOT_GSM7.search(text)
    assert match is not None
    char = match.group()
    return (
        f"text cannot be sent as GSM-7: character {char!r} (U+{ord(char):04X}) at position "
        f"{match.start()} is not in the GSM 03.38 alphabet; use UCS-2"
    )


def encode_gsm7(text: str) -> bytes:
    """Encode text as unpacked GSM-7: one byte per septet, extension characters as
    ``0x1B code`` (the form SMPP ``data_coding`` 0 carries in ``short_message``).

    Raises :class:`InvalidRequest` if a character is outside the GSM alphabet.
    """
    if _NOT_GSM7.search(text) is not None:
        raise InvalidRequest(_not_gsm7_message(text))
    return text.translate(_ENCODE_TABLE).encode("latin-1")


def decode_gsm7(data: bytes) -> str:
    """Decode unpacked GSM-7 septets (one per byte) to text.

    Following 23.038 6.2.1.1, ESC + a code that the extension table does not define shows the
    default-table character, and ESC + ESC (reserved for a further table) or a trailing ESC
    shows a space. A byte above 0x7F is not a septet: :class:`InvalidRequest`.
    """
    if not data.isascii():
        offset = next(i for i, b in enumerate(data) if b > 0x7F)
        raise InvalidRequest(
            f"invalid GSM-7 data: byte 0x{data[offset]:02X} at offset {offset} is not a septet"
        )
    if ESC not in data:
        return data.decode("latin-1").translate(_DECODE_TABLE)
    out: list[str] = []
    start = 0
    while (esc := data.find(ESC, start)) >= 0:
        out.append(data[start:esc].decode("latin-1").translate(_DECODE_TABLE))
        if esc + 1 == len(data):
            out.append(" ")
            return "".join(out)
        code = data[esc + 1]
        if code == ESC:
            out.append(" ")
        else:
            out.append(EXTENSION_TABLE.get(code) or BASIC_TABLE[code])
        start = esc + 2
    out.append(data[start:].decode("latin-1").translate(_DECODE_TABLE))
    return "".join(out)


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septets (values 0-127, one per byte) into octets, 23.038 6.1.2.1.

    The first septet occupies the low-order bits of the first octet. ``fill_bits`` (0-6)
    zero bits are inserted first, so that after a UDH the first character starts on a septet
    boundary (23.040 9.2.3.24): e.g. a 6-octet UDH needs 1 fill bit, a 7-octet one none.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0-6, got {fill_bits}")
    if not septets.isascii():
        raise ValueError("septet values must be 0-127")
    acc = 0
    for index, septet in enumerate(septets):
        acc |= septet << (7 * index)
    nbits = fill_bits + 7 * len(septets)
    return (acc << fill_bits).to_bytes((nbits + 7) // 8, "little")


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """Inverse of :func:`pack_septets`: read ``count`` septets after ``fill_bits`` fill bits.

    ``count`` is needed because 7 trailing zero bits are indistinguishable from a final "@".
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0-6, got {fill_bits}")
    if count < 0 or fill_bits + 7 * count > 8 * len(data):
        raise ValueError(f"{len(data)} octets cannot hold {count} septets after {fill_bits} bits")
    acc = int.from_bytes(data, "little") >> fill_bits
    return bytes((acc >> (7 * index)) & 0x7F for index in range(count))


def encode_ucs2(text: str) -> bytes:
    """Encode text as UTF-16-BE (what SMPP ``data_coding`` 8 carries; astral characters become
    surrogate pairs). Raises :class:`InvalidRequest` on an unpaired surrogate."""
    try:
        return text.encode("utf-16-be")
    except UnicodeEncodeError as exc:
        raise InvalidRequest(
            f"text contains an unpaired surrogate at position {exc.start}"
        ) from None


def concat_udh(ref: int, total: int, seq: int, *, ref16: bool = False) -> bytes:
    """The user data header of one part of a concatenated message, UDHL included.

    8-bit reference (23.040 9.2.3.24.1): ``05 00 03 rr tt ss``;
    16-bit reference (23.040 9.2.3.24.8): ``06 08 04 rrrr tt ss``.
    """
    limit = 0xFFFF if ref16 else 0xFF
    if not 0 <= ref <= limit:
        raise ValueError(f"concatenation reference must be 0-{limit}, got {ref}")
    if not 1 <= total <= MAX_PARTS:
        raise ValueError(f"total parts must be 1-{MAX_PARTS}, got {total}")
    if not 1 <= seq <= total:
        raise ValueError(f"part number must be 1-{total}, got {seq}")
    if ref16:
        return bytes((6, _IEI_CONCAT_16BIT, 4, ref >> 8, ref & 0xFF, total, seq))
    return bytes((5, _IEI_CONCAT_8BIT, 3, ref, total, seq))


def split_for_udh(
    text: str, *, ref: int, encoding: Encoding | None = None, ref16: bool = False
) -> list[bytes]:
    """Split and encode text into ``short_message`` payloads, one per SMS part.

    Each element is the concatenation UDH followed by the part's payload: unpacked GSM-7
    septets (one byte each, see :func:`encode_gsm7`) or UCS-2 (UTF-16-BE) bytes. A message
    that fits in one SMS gets no UDH. ``ref`` is the concatenation reference shared by all
    parts (0-255, or 0-65535 with ``ref16``). More than 255 parts raise InvalidRequest.
    """
    seg = segment(text, encoding, ref16=ref16)
    encode = encode_gsm7 if seg.encoding == Encoding.GSM7 else encode_ucs2
    if seg.count == 1:
        concat_udh(ref, 1, 1, ref16=ref16)  # validate ref the same way for every length
        return [encode(seg.parts[0])]
    if seg.count > MAX_PARTS:
        raise InvalidRequest(
            f"text is too long: {seg.count} SMS parts, at most {MAX_PARTS} can be concatenated"
        )
    return [
        concat_udh(ref, seg.count, seq, ref16=ref16) + encode(part)
        for seq, part in enumerate(seg.parts, start=1)
    ]
