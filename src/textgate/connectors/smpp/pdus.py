"""SMPP 3.4 PDU codec: dataclasses for the PDUs, ``encode`` / ``decode``, a stream ``Framer``
and the ``short_message`` text helpers.

Layouts follow SMPP v3.4 (issue 1.2) section 4; every body is described once, as a table of
fields (``_layout``), and one generic reader/writer walks it. Wire rules (3.1, 5.1, 5.2):
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
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Final

from textgate.connectors.smpp.constants import (
    RESPONSE_BIT,
    CommandId,
    CommandStatus,
    PduError,
)
from textgate.connectors.smpp.tlv import Tlvs, decode_tlvs

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

HEADER_LENGTH: Final = 16  # 3.2: command_length, command_id, command_status, sequence_number
DEFAULT_MAX_PDU_LENGTH: Final = 64 * 1024
MAX_SM_LENGTH: Final = 254  # 5.2.21
_HEADER = struct.Struct(">IIII")
_S = CommandStatus
NO_TLVS: Final = Tlvs()


@dataclass(frozen=True, slots=True)
class _F:
    """One mandatory body field: kind "c" (C-Octet String of at most ``size`` octets with
    the NUL), "u8" (1-octet integer) or "sm" (sm_length + short_message)."""

    name: str
    kind: str
    size: int = 1
    status: int = _S.ESME_RINVCMDLEN


def _c(name: str, size: int, status: int) -> _F:
    return _F(name, "c", size, status)


def _u8(name: str) -> _F:
    return _F(name, "u8")


_SM: Final = _F("short_message", "sm", status=_S.ESME_RINVMSGLEN)
_SERVICE_TYPE: Final = _c("service_type", 6, _S.ESME_RINVSERTYP)  # 5.2.11
_MESSAGE_ID: Final = _c("message_id", 65, _S.ESME_RINVMSGID)  # 5.2.23


def _source(size: int) -> tuple[_F, ...]:  # 5.2.5-5.2.8
    return (
        _u8("source_addr_ton"),
        _u8("source_addr_npi"),
        _c("source_addr", size, _S.ESME_RINVSRCADR),
    )


def _dest(size: int) -> tuple[_F, ...]:  # 5.2.5-5.2.9
    return (
        _u8("dest_addr_ton"),
        _u8("dest_addr_npi"),
        _c("destination_addr", size, _S.ESME_RINVDSTADR),
    )


# --------------------------------------------------------------------------- PDU classes


@dataclass(frozen=True, slots=True, kw_only=True)
class Pdu:
    """Common header (3.2). ``command_id`` is a class attribute of each concrete PDU."""

    command_id: ClassVar[CommandId]
    _layout: ClassVar[tuple[_F, ...]] = ()
    _has_tlvs: ClassVar[bool] = False

    sequence_number: int
    command_status: int = 0

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)


@dataclass(frozen=True, slots=True, kw_only=True)
class Bind(Pdu):
    """bind_transmitter / bind_receiver / bind_transceiver body, 4.1.1 / 4.1.3 / 4.1.5."""

    _layout: ClassVar[tuple[_F, ...]] = (
        _c("system_id", 16, _S.ESME_RINVSYSID),
        _c("password", 9, _S.ESME_RINVPASWD),
        _c("system_type", 13, _S.ESME_RINVSYSTYP),
        _u8("interface_version"),
        _u8("addr_ton"),
        _u8("addr_npi"),
        _c("address_range", 41, _S.ESME_RBINDFAIL),
    )
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransmitter(Bind):
    command_id = CommandId.BIND_TRANSMITTER


@dataclass(frozen=True, slots=True, kw_only=True)
class BindReceiver(Bind):
    command_id = CommandId.BIND_RECEIVER


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransceiver(Bind):
    command_id = CommandId.BIND_TRANSCEIVER


@dataclass(frozen=True, slots=True, kw_only=True)
class BindResp(Pdu):
    """bind_*_resp body, 4.1.2 / 4.1.4 / 4.1.6: system_id + TLV sc_interface_version."""

    _layout: ClassVar[tuple[_F, ...]] = (_c("system_id", 16, _S.ESME_RINVSYSID),)
    _has_tlvs: ClassVar[bool] = True
    system_id: str = ""
    tlvs: Tlvs = NO_TLVS


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransmitterResp(BindResp):
    command_id = CommandId.BIND_TRANSMITTER_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class BindReceiverResp(BindResp):
    command_id = CommandId.BIND_RECEIVER_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransceiverResp(BindResp):
    command_id = CommandId.BIND_TRANSCEIVER_RESP


BIND_RESPONSE: Final[dict[type[Bind], type[BindResp]]] = {
    BindTransmitter: BindTransmitterResp,
    BindReceiver: BindReceiverResp,
    BindTransceiver: BindTransceiverResp,
}
"""The response class of each bind (SMPP 3.4 4.1)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Outbind(Pdu):
    """4.1.7."""

    command_id = CommandId.OUTBIND
    _layout: ClassVar[tuple[_F, ...]] = (
        _c("system_id", 16, _S.ESME_RINVSYSID),
        _c("password", 9, _S.ESME_RINVPASWD),
    )
    system_id: str = ""
    password: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Unbind(Pdu):
    command_id = CommandId.UNBIND  # 4.2.1


@dataclass(frozen=True, slots=True, kw_only=True)
class UnbindResp(Pdu):
    command_id = CommandId.UNBIND_RESP  # 4.2.2


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericNack(Pdu):
    command_id = CommandId.GENERIC_NACK  # 4.3.1


@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLink(Pdu):
    command_id = CommandId.ENQUIRE_LINK  # 4.11.1


@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLinkResp(Pdu):
    command_id = CommandId.ENQUIRE_LINK_RESP  # 4.11.2


@dataclass(frozen=True, slots=True, kw_only=True)
class SmPdu(Pdu):
    """The body shared by submit_sm (4.4.1) and deliver_sm (4.6.1)."""

    _layout: ClassVar[tuple[_F, ...]] = (
        _SERVICE_TYPE,
        *_source(21),
        *_dest(21),
        _u8("esm_class"),  # 5.2.12
        _u8("protocol_id"),
        _u8("priority_flag"),
        _c("schedule_delivery_time", 17, _S.ESME_RINVSCHED),  # 5.2.15
        _c("validity_period", 17, _S.ESME_RINVEXPIRY),  # 5.2.16
        _u8("registered_delivery"),  # 5.2.17
        _u8("replace_if_present_flag"),
        _u8("data_coding"),  # 5.2.19
        _u8("sm_default_msg_id"),
        _SM,
    )
    _has_tlvs: ClassVar[bool] = True
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: Tlvs = NO_TLVS

    @property
    def is_delivery_receipt(self) -> bool:
        """esm_class message type bits 5-2 = 0001: SMSC delivery receipt (5.2.12)."""
        return self.esm_class & 0x3C == 0x04


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSm(SmPdu):
    command_id = CommandId.SUBMIT_SM


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSm(SmPdu):
    command_id = CommandId.DELIVER_SM


@dataclass(frozen=True, slots=True, kw_only=True)
class _MessageIdResp(Pdu):
    _layout: ClassVar[tuple[_F, ...]] = (_MESSAGE_ID,)
    _has_tlvs: ClassVar[bool] = True
    message_id: str = ""
    tlvs: Tlvs = NO_TLVS


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSmResp(_MessageIdResp):
    command_id = CommandId.SUBMIT_SM_RESP  # 4.4.2


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSmResp(_MessageIdResp):
    command_id = CommandId.DELIVER_SM_RESP  # 4.6.2 (message_id unused, set to NULL)


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSmResp(_MessageIdResp):
    command_id = CommandId.DATA_SM_RESP  # 4.7.2


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSm(Pdu):
    """4.7.1 (addresses up to 65 octets; the message travels in TLV message_payload)."""

    command_id = CommandId.DATA_SM
    _layout: ClassVar[tuple[_F, ...]] = (
        _SERVICE_TYPE,
        *_source(65),
        *_dest(65),
        _u8("esm_class"),
        _u8("registered_delivery"),
        _u8("data_coding"),
    )
    _has_tlvs: ClassVar[bool] = True
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    tlvs: Tlvs = NO_TLVS


@dataclass(frozen=True, slots=True, kw_only=True)
class QuerySm(Pdu):
    """4.8.1."""

    command_id = CommandId.QUERY_SM
    _layout: ClassVar[tuple[_F, ...]] = (_MESSAGE_ID, *_source(21))
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class QuerySmResp(Pdu):
    """4.8.2 (message_state: 5.2.28, error_code: 5.2.31)."""

    command_id = CommandId.QUERY_SM_RESP
    _layout: ClassVar[tuple[_F, ...]] = (
        _MESSAGE_ID,
        _c("final_date", 17, _S.ESME_RQUERYFAIL),
        _u8("message_state"),
        _u8("error_code"),
    )
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelSm(Pdu):
    """4.9.1."""

    command_id = CommandId.CANCEL_SM
    _layout: ClassVar[tuple[_F, ...]] = (_SERVICE_TYPE, _MESSAGE_ID, *_source(21), *_dest(21))
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelSmResp(Pdu):
    command_id = CommandId.CANCEL_SM_RESP  # 4.9.2


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceSm(Pdu):
    """4.10.1."""

    command_id = CommandId.REPLACE_SM
    _layout: ClassVar[tuple[_F, ...]] = (
        _MESSAGE_ID,
        *_source(21),
        _c("schedule_delivery_time", 17, _S.ESME_RINVSCHED),
        _c("validity_period", 17, _S.ESME_RINVEXPIRY),
        _u8("registered_delivery"),
        _u8("sm_default_msg_id"),
        _SM,
    )
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceSmResp(Pdu):
    command_id = CommandId.REPLACE_SM_RESP  # 4.10.2


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertNotification(Pdu):
    """4.12.1."""

    command_id = CommandId.ALERT_NOTIFICATION
    _layout: ClassVar[tuple[_F, ...]] = (
        *_source(65),
        _u8("esme_addr_ton"),
        _u8("esme_addr_npi"),
        _c("esme_addr", 65, _S.ESME_RINVDSTADR),
    )
    _has_tlvs: ClassVar[bool] = True
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""
    tlvs: Tlvs = NO_TLVS


_CLASSES: Final[dict[int, type[Pdu]]] = {
    cls.command_id: cls
    for cls in (
        BindTransmitter, BindReceiver, BindTransceiver,
        BindTransmitterResp, BindReceiverResp, BindTransceiverResp,
        Outbind, Unbind, UnbindResp, GenericNack, EnquireLink, EnquireLinkResp,
        SubmitSm, SubmitSmResp, DeliverSm, DeliverSmResp, DataSm, DataSmResp,
        QuerySm, QuerySmResp, CancelSm, CancelSmResp, ReplaceSm, ReplaceSmResp,
        AlertNotification,
    )
}  # fmt: skip
_DEFAULTS: Final[dict[type[Pdu], dict[str, Any]]] = {
    cls: {f.name: f.default for f in fields(cls) if f.name not in ("sequence_number",)}
    for cls in _CLASSES.values()
}


# --------------------------------------------------------------------------- encode


def encode(pdu: Pdu) -> bytes:
    """Serialise a PDU, header included. Values that do not fit the wire format (a C-Octet
    String over its maximum, non-Latin-1 text, an integer out of range, short_message over
    254 octets) raise PduError with the status a peer would have answered."""
    seq = pdu.sequence_number
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
    defaults = _DEFAULTS[type(pdu)]
    return all(getattr(pdu, n) == v for n, v in defaults.items() if n != "command_status")


# --------------------------------------------------------------------------- decode


def decode(data: bytes) -> Pdu:
    """Parse one whole PDU (header included). Raises only :class:`PduError`."""
    data = bytes(data)
    n = len(data)
    if n < HEADER_LENGTH:
        raise PduError(_S.ESME_RINVCMDLEN, None, f"{n} octets is shorter than a PDU header")
    length, command_id, status, seq = _HEADER.unpack_from(data)
    if length != n:
        raise PduError(_S.ESME_RINVCMDLEN, seq, f"command_length {length} but {n} octets")
    cls = _CLASSES.get(command_id)
    if cls is None:
        raise PduError(_S.ESME_RINVCMDID, seq, f"unknown command_id 0x{command_id:08X}")
    values: dict[str, Any] = {}
    if n == HEADER_LENGTH and cls._layout and command_id & RESPONSE_BIT:
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
