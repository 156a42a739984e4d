"""short_message contents: text in a data_coding, the UDH and concatenation (SMPP 3.4 5.2.19,
5.2.12; 3GPP TS 23.038 / 23.040)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from textgate.connectors.smpp.constants import CommandStatus, PduError, Tag
from textgate.connectors.smpp.tlv import Tlvs
from textgate.core.encoding import decode_gsm7, encode_gsm7, encode_ucs2
from textgate.errors import InvalidRequest

__all__ = [
    "ESM_UDHI",
    "Concat",
    "ShortMessage",
    "concat_from_tlvs",
    "decode_short_message",
    "encode_short_message",
    "parse_udh",
]

_S = CommandStatus


ESM_UDHI: Final = 0x40  # 5.2.12: UDH indicator
_IEI_CONCAT_8BIT: Final = 0x00  # 3GPP TS 23.040 9.2.3.24.1
_IEI_CONCAT_16BIT: Final = 0x08  # 3GPP TS 23.040 9.2.3.24.8


@dataclass(frozen=True, slots=True)
class Concat:
    """Concatenation info from a UDH: reference, number of parts, this part's number."""

    ref: int
    total: int
    seq: int
    ref16: bool = False


@dataclass(frozen=True, slots=True)
class ShortMessage:
    """A decoded short_message: ``text`` is None for binary data codings; ``payload`` is the
    octets after the UDH; ``udh`` the whole UDH (UDHL included) or b""."""

    text: str | None
    payload: bytes
    udh: bytes = b""
    concat: Concat | None = None


def concat_from_tlvs(tlvs: Tlvs) -> Concat | None:
    """Concatenation info carried in the sar_* TLVs (5.3.2.22-5.3.2.24) instead of a UDH;
    None unless all three are present and consistent."""
    ref = tlvs.get_int(Tag.SAR_MSG_REF_NUM)
    total = tlvs.get_int(Tag.SAR_TOTAL_SEGMENTS)
    seq = tlvs.get_int(Tag.SAR_SEGMENT_SEQNUM)
    if ref is None or total is None or seq is None or not 1 <= seq <= total:
        return None
    return Concat(ref, total, seq, ref16=ref > 0xFF)


def _text_alphabet(data_coding: int) -> str | None:
    """SMPP 3.4 5.2.19 data_coding -> alphabet ("gsm", "ascii", "latin-1", "ucs2") or None
    for binary / unsupported codings. 0xF0-0xF7 is the GSM 23.038 'data coding / message
    class' group: bit 2 clear means default alphabet, set means 8-bit data."""
    if data_coding == 0 or 0xF0 <= data_coding <= 0xF3:
        return "gsm"
    return {1: "ascii", 3: "latin-1", 8: "ucs2"}.get(data_coding)


def encode_short_message(text: str, data_coding: int, udh: bytes = b"") -> bytes:
    """Encode text for ``short_message`` (optionally behind a UDH; set esm_class 0x40 then).

    data_coding 0: GSM-7 unpacked (one septet per octet), 1: IA5/ASCII, 3: Latin-1,
    8: UCS-2 (UTF-16-BE). Text the coding cannot carry, or a binary coding, raises
    InvalidRequest.
    """
    alphabet = _text_alphabet(data_coding)
    if alphabet == "gsm":
        return udh + encode_gsm7(text)
    if alphabet == "ucs2":
        return udh + encode_ucs2(text)
    if alphabet is None:
        raise InvalidRequest(f"data_coding 0x{data_coding:02X} does not carry text")
    try:
        return udh + text.encode(alphabet)
    except UnicodeEncodeError as exc:
        raise InvalidRequest(
            f"character {exc.object[exc.start]!r} cannot be sent with data_coding "
            f"{data_coding} ({alphabet})"
        ) from None


def parse_udh(data: bytes) -> tuple[bytes, Concat | None]:
    """Split a UDH (23.040 9.2.3.24) off ``data``: returns (udh incl. UDHL, concat info).

    A UDHL running past the data or an IE running past the UDH raises
    PduError(ESME_RINVMSGLEN). A concatenation IE with a zero count or a part number above
    the count is ignored, as 23.040 9.2.3.24.1 asks.
    """
    if not data or data[0] + 1 > len(data):
        raise PduError(_S.ESME_RINVMSGLEN, None, "UDH length runs past the short message")
    end = data[0] + 1
    pos = 1
    concat: Concat | None = None
    while pos < end:
        if pos + 2 > end or pos + 2 + data[pos + 1] > end:
            raise PduError(_S.ESME_RINVMSGLEN, None, "UDH information element is truncated")
        iei, iel = data[pos], data[pos + 1]
        ie = data[pos + 2 : pos + 2 + iel]
        if iei == _IEI_CONCAT_8BIT and iel == 3:
            found = Concat(ie[0], ie[1], ie[2])
        elif iei == _IEI_CONCAT_16BIT and iel == 4:
            found = Concat(int.from_bytes(ie[:2], "big"), ie[2], ie[3], ref16=True)
        else:
            found = None
        if found is not None and 1 <= found.seq <= found.total:
            concat = found
        pos += 2 + iel
    return bytes(data[:end]), concat


def decode_short_message(data: bytes, data_coding: int, esm_class: int = 0) -> ShortMessage:
    """Decode ``short_message`` (or message_payload) octets.

    With UDHI set in esm_class (0x40, 5.2.12) the UDH is split off first. Decoding never
    fails on the text itself: data_coding 0 is the *SMSC default alphabet* (5.2.19), GSM-7
    by convention, but octets above 0x7F are then read as Latin-1, which several SMSCs send
    under data_coding 0; a broken UCS-2 unit becomes U+FFFD. Binary codings (2, 4, 0xF4-0xF7)
    and unsupported ones give ``text=None``.
    """
    data = bytes(data)
    udh = b""
    concat = None
    if esm_class & ESM_UDHI:
        udh, concat = parse_udh(data)
    payload = data[len(udh) :]
    alphabet = _text_alphabet(data_coding)
    text: str | None
    if alphabet == "gsm":
        text = decode_gsm7(payload) if payload.isascii() else payload.decode("latin-1")
    elif alphabet == "ucs2":
        text = payload.decode("utf-16-be", errors="replace")
    elif alphabet is not None:
        text = payload.decode(alphabet, errors="replace")
    else:
        text = None
    return ShortMessage(text, payload, udh, concat)
