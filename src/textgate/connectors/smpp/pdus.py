"""SMPP 3.4 PDU codec: ``encode`` / ``decode`` and (re-exported from ``pdutypes``) the PDU
dataclasses.

Layouts follow SMPP v3.4 (issue 1.2) section 4; every body is described once, as a table of
fields (``_layout``), and one generic reader/writer walks it. The PDUs of the per-message
path (submit_sm, deliver_sm, their responses, header-only PDUs) also have hand-unrolled
codecs (``fastcodec``); on any input they cannot take as is they defer to the generic
code, so errors and their command_status are the generic code's. Wire rules (3.1, 5.1, 5.2):
integers are unsigned big-endian; C-Octet Strings are NUL-terminated and their maximum size
*includes* the NUL; ``short_message`` is preceded by ``sm_length`` (0-254, 5.2.21).

``decode`` never raises anything but :class:`PduError`, whose ``command_status`` is the one
the peer should receive (in a generic_nack, 4.3.1, or the request's response):

- fewer than 16 octets, command_length != the data's length, a mandatory field cut off by the
  end of the PDU, or stray octets after the body of a PDU without TLVs: ESME_RINVCMDLEN;
- unknown command_id: ESME_RINVCMDID;
- a C-Octet String longer than its maximum: the field's own status (ESME_RINVSRCADR,
  ESME_RINVDSTADR, ESME_RINVMSGID, ESME_RINVSYSID, ESME_RINVPASWD, ...);
- sm_length above 254 or past the end of the PDU: ESME_RINVMSGLEN;
- a broken TLV stream: ESME_RINVOPTPARSTREAM.

C-Octet Strings are decoded as Latin-1, so every octet string round-trips byte for byte.
Tolerance: a response whose body is empty decodes with default field values (4.4.2: a
submit_sm_resp body is not returned when command_status is non-zero; some ESMEs also send
an empty deliver_sm_resp), and submit_sm_resp / deliver_sm_resp accept TLVs (SMPP 5.0 4.2.5).
Time fields (schedule_delivery_time, validity_period, final_date) are checked for length only.
submit_multi and its response, whose bodies hold lists, have their own codec (``multi``).
"""

from __future__ import annotations

import struct
from typing import Any, Final

from textgate.connectors.smpp.constants import RESPONSE_BIT, CommandId, CommandStatus, PduError
from textgate.connectors.smpp.fastcodec import ENCODE_MISFITS, FAST_DECODERS, FAST_ENCODERS
from textgate.connectors.smpp.multi import decode_multi
from textgate.connectors.smpp.pdutypes import (
    BIND_RESPONSE,
    DEFAULT_MAX_PDU_LENGTH,
    FIELD_DEFAULTS,
    HEADER_LENGTH,
    MAX_SM_LENGTH,
    NO_TLVS,
    PDU_CLASSES,
    AlertNotification,
    Bind,
    BindReceiver,
    BindReceiverResp,
    BindResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CancelSm,
    CancelSmResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    ReplaceSmResp,
    SmPdu,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)
from textgate.connectors.smpp.tlv import decode_tlvs

__all__ = [
    "BIND_RESPONSE",
    "DEFAULT_MAX_PDU_LENGTH",
    "HEADER_LENGTH",
    "NO_TLVS",
    "AlertNotification",
    "Bind",
    "BindReceiver",
    "BindReceiverResp",
    "BindResp",
    "BindTransceiver",
    "BindTransceiverResp",
    "BindTransmitter",
    "BindTransmitterResp",
    "CancelSm",
    "CancelSmResp",
    "DataSm",
    "DataSmResp",
    "DeliverSm",
    "DeliverSmResp",
    "EnquireLink",
    "EnquireLinkResp",
    "GenericNack",
    "Outbind",
    "Pdu",
    "QuerySm",
    "QuerySmResp",
    "ReplaceSm",
    "ReplaceSmResp",
    "SmPdu",
    "SubmitSm",
    "SubmitSmResp",
    "Unbind",
    "UnbindResp",
    "decode",
    "encode",
]

_S = CommandStatus
_HEADER: Final = struct.Struct(">IIII")
_unpack_header: Final = _HEADER.unpack_from

_MULTI: Final = frozenset({CommandId.SUBMIT_MULTI, CommandId.SUBMIT_MULTI_RESP})


# --------------------------------------------------------------------------- encode


def encode(pdu: Pdu, sequence_number: int | None = None) -> bytes:
    """Serialise a PDU, header included, with ``sequence_number`` instead of the PDU's own
    when given (so a session numbers a PDU without copying it). Values that do not fit the
    wire format (a C-Octet String over its maximum, non-Latin-1 text, an integer out of
    range, short_message over 254 octets) raise PduError with the status a peer would have
    answered."""
    seq = pdu.sequence_number if sequence_number is None else sequence_number
    fast = FAST_ENCODERS.get(type(pdu))
    if fast is not None:
        try:
            data = fast(pdu, seq)
        except ENCODE_MISFITS:
            data = None
        if data is not None:
            return data
    return _encode_generic(pdu, seq)


def _encode_generic(pdu: Pdu, seq: int) -> bytes:
    body = bytearray()
    for f in pdu._layout:
        value = getattr(pdu, f.name)
        if f.kind == "c":
            try:
                raw = value.encode("latin-1")
            except UnicodeEncodeError:
                raise PduError(f.status, seq, f"{f.name}: not a Latin-1 octet string") from None
            if len(raw) >= f.size or 0 in raw:
                raise PduError(f.status, seq, f"{f.name}: {len(raw)} octets, max {f.size - 1}")
            body += raw + b"\x00"
        elif f.kind == "u8":
            if not 0 <= value <= 0xFF:
                raise PduError(_S.ESME_RSYSERR, seq, f"{f.name}: {value} is not one octet")
            body.append(value)
        else:
            if len(value) > MAX_SM_LENGTH:
                raise PduError(f.status, seq, f"short_message: {len(value)} octets, max 254")
            body.append(len(value))
            body += value
    if pdu._has_tlvs:
        body += pdu.tlvs.encode()  # type: ignore[attr-defined]
    if pdu.is_response and pdu.command_status != 0 and _is_default(pdu):
        body.clear()  # 4.4.2: no body in an error response
    length = HEADER_LENGTH + len(body)
    for name, value in (("command_status", pdu.command_status), ("sequence_number", seq)):
        if not 0 <= value <= 0xFFFFFFFF:
            raise PduError(_S.ESME_RSYSERR, None, f"{name} {value} does not fit 4 octets")
    return _HEADER.pack(length, pdu.command_id, pdu.command_status, seq) + body


def _is_default(pdu: Pdu) -> bool:
    defaults = FIELD_DEFAULTS[type(pdu)]
    return all(getattr(pdu, n) == v for n, v in defaults.items() if n != "command_status")


# --------------------------------------------------------------------------- decode


def decode(data: bytes) -> Pdu:
    """Parse one whole PDU (header included). Raises only :class:`PduError`."""
    data = bytes(data)  # no copy when it already is bytes
    n = len(data)
    if n < HEADER_LENGTH:
        raise PduError(_S.ESME_RINVCMDLEN, None, f"{n} octets is shorter than a PDU header")
    length, command_id, status, seq = _unpack_header(data)
    if length != n:
        raise PduError(_S.ESME_RINVCMDLEN, seq, f"command_length {length} but {n} octets")
    if command_id in _MULTI:
        return decode_multi(data, status, seq)
    cls = PDU_CLASSES.get(command_id)
    if cls is None:
        raise PduError(_S.ESME_RINVCMDID, seq, f"unknown command_id 0x{command_id:08X}")
    fast = FAST_DECODERS.get(command_id)
    if fast is not None:
        try:
            pdu = fast(cls, data, status, seq)
        except IndexError:  # a field cut off by the end: let the generic code name it
            pdu = None
        if pdu is not None:
            return pdu
    return _decode_generic(cls, data, status, seq)


def _decode_generic(cls: type[Pdu], data: bytes, status: int, seq: int) -> Pdu:
    n = len(data)
    values: dict[str, Any] = {}
    if n == HEADER_LENGTH and cls._layout and cls.command_id & RESPONSE_BIT:
        return cls(sequence_number=seq, command_status=status)  # tolerated empty body
    pos = HEADER_LENGTH
    for f in cls._layout:
        if f.kind == "c":
            limit = pos + f.size
            nul = data.find(0, pos, min(limit, n))
            if nul < 0:
                if limit > n:
                    raise PduError(_S.ESME_RINVCMDLEN, seq, f"{f.name}: no NUL before the end")
                raise PduError(f.status, seq, f"{f.name}: longer than {f.size - 1} octets")
            values[f.name] = data[pos:nul].decode("latin-1")
            pos = nul + 1
        elif pos >= n:
            raise PduError(_S.ESME_RINVCMDLEN, seq, f"{f.name}: PDU ends before it")
        elif f.kind == "u8":
            values[f.name] = data[pos]
            pos += 1
        else:
            sm_length = data[pos]
            pos += 1
            if sm_length > MAX_SM_LENGTH or pos + sm_length > n:
                raise PduError(
                    f.status, seq, f"sm_length {sm_length}: max 254, {n - pos} octets left"
                )
            values[f.name] = data[pos : pos + sm_length]
            pos += sm_length
    if cls._has_tlvs:
        values["tlvs"] = decode_tlvs(data, pos, seq)
    elif pos != n:
        raise PduError(_S.ESME_RINVCMDLEN, seq, f"{n - pos} octets after the body")
    return cls(sequence_number=seq, command_status=status, **values)
