"""SMPP 3.4 PDU codec: ``encode`` / ``decode`` and (re-exported from ``pdutypes``) the PDU
dataclasses.

Layouts follow SMPP v3.4 (issue 1.2) section 4; every body is described once, as a table of
fields (``_layout``), and one generic reader/writer walks it. The PDUs of the per-message
path (submit_sm, deliver_sm, their responses, header-only PDUs) also have hand-unrolled
codecs; on any input they cannot take as is they defer to the generic code, so errors and
their command_status are the generic code's. Wire rules (3.1, 5.1, 5.2):
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
from collections.abc import Callable
from typing import Any, Final

from textgate.connectors.smpp.constants import RESPONSE_BIT, CommandId, CommandStatus, PduError
from textgate.connectors.smpp.multi import SubmitMulti, SubmitMultiResp, decode_multi, encode_multi
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
    MessageIdResp,
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
_pack_header: Final = _HEADER.pack
_unpack_header: Final = _HEADER.unpack_from
# The octets between two C-Octet Strings of a submit_sm / deliver_sm body (4.4.1), each led
# by the NUL that ends the string before: NUL ton npi; NUL esm_class protocol_id
# priority_flag; NUL registered_delivery replace_if_present_flag data_coding
# sm_default_msg_id sm_length.
_NUL_2: Final = struct.Struct(">BBB").pack
_NUL_3: Final = struct.Struct(">BBBB").pack
_NUL_5: Final = struct.Struct(">BBBBBB").pack
_SM_FIXED_OCTETS: Final = 3 + 3 + 4 + 1 + 6  # everything but strings, short_message, TLVs

_MULTI: Final = frozenset({CommandId.SUBMIT_MULTI, CommandId.SUBMIT_MULTI_RESP})

# Raised by the unrolled encoders on values the wire format cannot take; the generic
# encoder then runs and raises the PduError with the right command_status.
_ENCODE_MISFITS: Final = (struct.error, UnicodeEncodeError, AttributeError, TypeError)


# --------------------------------------------------------------------------- encode


def encode(pdu: Pdu, sequence_number: int | None = None) -> bytes:
    """Serialise a PDU, header included, with ``sequence_number`` instead of the PDU's own
    when given (so a session numbers a PDU without copying it). Values that do not fit the
    wire format (a C-Octet String over its maximum, non-Latin-1 text, an integer out of
    range, short_message over 254 octets) raise PduError with the status a peer would have
    answered."""
    seq = pdu.sequence_number if sequence_number is None else sequence_number
    fast = _FAST_ENCODERS.get(type(pdu))
    if fast is not None:
        try:
            data = fast(pdu, seq)
        except _ENCODE_MISFITS:
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


def _encode_sm(pdu: SmPdu, seq: int) -> bytes | None:
    """submit_sm / deliver_sm body (4.4.1, 4.6.1) in one join; None if a value misfits."""
    service_type = pdu.service_type.encode("latin-1")
    source = pdu.source_addr.encode("latin-1")
    dest = pdu.destination_addr.encode("latin-1")
    schedule = pdu.schedule_delivery_time.encode("latin-1")
    validity = pdu.validity_period.encode("latin-1")
    sm = pdu.short_message
    strings = service_type + source + dest + schedule + validity
    if (
        len(service_type) > 5  # maximum sizes include the NUL: 5.2.11, 5.2.8, 5.2.9
        or len(source) > 20
        or len(dest) > 20
        or len(schedule) > 16  # 5.2.15, 5.2.16
        or len(validity) > 16
        or len(sm) > MAX_SM_LENGTH
        or 0 in strings
    ):
        return None
    tlvs = pdu.tlvs.encode() if pdu.tlvs.items else b""
    length = HEADER_LENGTH + _SM_FIXED_OCTETS + len(strings) + len(sm) + len(tlvs)
    return b"".join(
        (
            _pack_header(length, pdu.command_id, pdu.command_status, seq),
            service_type,
            _NUL_2(0, pdu.source_addr_ton, pdu.source_addr_npi),
            source,
            _NUL_2(0, pdu.dest_addr_ton, pdu.dest_addr_npi),
            dest,
            _NUL_3(0, pdu.esm_class, pdu.protocol_id, pdu.priority_flag),
            schedule,
            b"\x00",
            validity,
            _NUL_5(
                0,
                pdu.registered_delivery,
                pdu.replace_if_present_flag,
                pdu.data_coding,
                pdu.sm_default_msg_id,
                len(sm),
            ),
            sm,
            tlvs,
        )
    )


def _encode_message_id_resp(pdu: MessageIdResp, seq: int) -> bytes | None:
    """submit_sm_resp / deliver_sm_resp / data_sm_resp (4.4.2, 4.6.2, 4.7.2)."""
    message_id = pdu.message_id.encode("latin-1")
    if len(message_id) > 64 or 0 in message_id:  # 5.2.23: 65 octets with the NUL
        return None
    status = pdu.command_status
    if pdu.tlvs.items:
        body = message_id + b"\x00" + pdu.tlvs.encode()
    elif status and not message_id:
        body = b""  # 4.4.2: no body in an error response
    else:
        body = message_id + b"\x00"
    return _pack_header(HEADER_LENGTH + len(body), pdu.command_id, status, seq) + body


def _encode_header_only(pdu: Pdu, seq: int) -> bytes:
    return _pack_header(HEADER_LENGTH, pdu.command_id, pdu.command_status, seq)


_FAST_ENCODERS: Final[dict[type[Pdu], Callable[[Any, int], bytes | None]]] = {
    SubmitSm: _encode_sm,
    DeliverSm: _encode_sm,
    SubmitSmResp: _encode_message_id_resp,
    DeliverSmResp: _encode_message_id_resp,
    DataSmResp: _encode_message_id_resp,
    SubmitMulti: encode_multi,
    SubmitMultiResp: encode_multi,
    **{
        cls: _encode_header_only
        for cls in PDU_CLASSES.values()
        if not cls._layout and not cls._has_tlvs
    },
}


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
    fast = _FAST_DECODERS.get(command_id)
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


def _decode_sm(cls: type[SmPdu], data: bytes, status: int, seq: int) -> Pdu | None:
    """submit_sm / deliver_sm (4.4.1, 4.6.1); None when a field is missing or too long.

    The PDU is decoded to text once (Latin-1: one character per octet, so offsets agree)
    and every C-Octet String is a slice of that text.
    """
    n = len(data)
    text = data.decode("latin-1")
    find = text.find
    # Each search is bounded by the field's maximum size with its NUL (5.2.11, 5.2.8,
    # 5.2.9, 5.2.15, 5.2.16); finding the next string also proves the octets before it.
    service_end = find("\x00", 16, 16 + 6)
    if service_end < 0:
        return None
    source_start = service_end + 3
    source_end = find("\x00", source_start, source_start + 21)
    if source_end < 0:
        return None
    dest_start = source_end + 3
    dest_end = find("\x00", dest_start, dest_start + 21)
    if dest_end < 0:
        return None
    schedule_start = dest_end + 4
    schedule_end = find("\x00", schedule_start, schedule_start + 17)
    if schedule_end < 0:
        return None
    validity_end = find("\x00", schedule_end + 1, schedule_end + 1 + 17)
    if validity_end < 0 or validity_end + 5 >= n:
        return None
    sm_start = validity_end + 6
    sm_end = sm_start + data[validity_end + 5]
    if sm_end - sm_start > MAX_SM_LENGTH or sm_end > n:
        return None
    return cls(
        sequence_number=seq,
        command_status=status,
        service_type=text[16:service_end],
        source_addr_ton=data[service_end + 1],
        source_addr_npi=data[service_end + 2],
        source_addr=text[source_start:source_end],
        dest_addr_ton=data[source_end + 1],
        dest_addr_npi=data[source_end + 2],
        destination_addr=text[dest_start:dest_end],
        esm_class=data[dest_end + 1],
        protocol_id=data[dest_end + 2],
        priority_flag=data[dest_end + 3],
        schedule_delivery_time=text[schedule_start:schedule_end],
        validity_period=text[schedule_end + 1 : validity_end],
        registered_delivery=data[validity_end + 1],
        replace_if_present_flag=data[validity_end + 2],
        data_coding=data[validity_end + 3],
        sm_default_msg_id=data[validity_end + 4],
        short_message=data[sm_start:sm_end],
        tlvs=NO_TLVS if sm_end == n else decode_tlvs(data, sm_end, seq),
    )


def _decode_message_id_resp(
    cls: type[MessageIdResp], data: bytes, status: int, seq: int
) -> Pdu | None:
    """submit_sm_resp / deliver_sm_resp / data_sm_resp (4.4.2, 4.6.2, 4.7.2)."""
    n = len(data)
    if n == HEADER_LENGTH:  # 4.4.2: no body when command_status is an error
        return cls(sequence_number=seq, command_status=status)
    end = data.find(0, HEADER_LENGTH, HEADER_LENGTH + 65)  # 5.2.23
    if end < 0:
        return None
    return cls(
        sequence_number=seq,
        command_status=status,
        message_id=data[HEADER_LENGTH:end].decode("latin-1"),
        tlvs=NO_TLVS if end + 1 == n else decode_tlvs(data, end + 1, seq),
    )


def _decode_header_only(cls: type[Pdu], data: bytes, status: int, seq: int) -> Pdu | None:
    return cls(sequence_number=seq, command_status=status) if len(data) == HEADER_LENGTH else None


_FAST_DECODERS: Final[dict[int, Callable[[Any, bytes, int, int], Pdu | None]]] = {
    SubmitSm.command_id: _decode_sm,
    DeliverSm.command_id: _decode_sm,
    SubmitSmResp.command_id: _decode_message_id_resp,
    DeliverSmResp.command_id: _decode_message_id_resp,
    DataSmResp.command_id: _decode_message_id_resp,
    **{
        cls.command_id: _decode_header_only
        for cls in PDU_CLASSES.values()
        if not cls._layout and not cls._has_tlvs
    },
}
