"""Hand-unrolled codecs of the PDUs on the per-message path: submit_sm, deliver_sm, their
responses (and data_sm_resp), submit_multi (``multi``) and the header-only PDUs.

``pdus`` describes every body once, as a table of fields, and walks it generically; these
do the same work for the PDUs a gateway sees once per message or part, in one join or one
pass over the PDU decoded to text. They are a speed-up only: on any input they cannot take
as is they return None (or raise one of :data:`ENCODE_MISFITS`, or IndexError when
decoding), and ``pdus`` then runs the generic code, so errors and their command_status are
the generic code's. Field sizes are SMPP 3.4's (section 4; the maximum size of a C-Octet
String includes its NUL).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final

from textgate.connectors.smpp.multi import SubmitMulti, SubmitMultiResp, encode_multi
from textgate.connectors.smpp.pdutypes import (
    HEADER_LENGTH,
    MAX_SM_LENGTH,
    NO_TLVS,
    PDU_CLASSES,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    MessageIdResp,
    Pdu,
    SmPdu,
    SubmitSm,
    SubmitSmResp,
)
from textgate.connectors.smpp.tlv import decode_tlvs

__all__ = ["ENCODE_MISFITS", "FAST_DECODERS", "FAST_ENCODERS"]

_pack_header: Final = struct.Struct(">IIII").pack
# The octets between two C-Octet Strings of a submit_sm / deliver_sm body (4.4.1), each led
# by the NUL that ends the string before: NUL ton npi; NUL esm_class protocol_id
# priority_flag; NUL registered_delivery replace_if_present_flag data_coding
# sm_default_msg_id sm_length.
_NUL_2: Final = struct.Struct(">BBB").pack
_NUL_3: Final = struct.Struct(">BBBB").pack
_NUL_5: Final = struct.Struct(">BBBBBB").pack
_SM_FIXED_OCTETS: Final = 3 + 3 + 4 + 1 + 6  # everything but strings, short_message, TLVs

# Raised by the unrolled encoders on values the wire format cannot take; the generic
# encoder then runs and raises the PduError with the right command_status.
ENCODE_MISFITS: Final = (struct.error, UnicodeEncodeError, AttributeError, TypeError)


# --------------------------------------------------------------------------- encode


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


FAST_ENCODERS: Final[dict[type[Pdu], Callable[[Any, int], bytes | None]]] = {
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
"""The unrolled encoder of each PDU class that has one: the PDU's octets, or None."""

# --------------------------------------------------------------------------- decode


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


FAST_DECODERS: Final[dict[int, Callable[[Any, bytes, int, int], Pdu | None]]] = {
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
"""The unrolled decoder of each command_id that has one: the PDU, or None."""
