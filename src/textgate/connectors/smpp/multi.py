"""submit_multi and submit_multi_resp (SMPP 3.4 4.5): one short message to up to 254
destinations, and the answer naming the ones refused.

Their bodies hold lists (dest_address, 4.5.1.1; unsuccess_sme, 4.5.2.1), which the field
tables of ``pdutypes`` cannot describe, so they have their own codec here; ``pdus`` hands
these two command_ids to it. The wire rules are the other PDUs': C-Octet String maxima
include the NUL, a string over its maximum is refused with the field's own status, a field
cut off by the end of the PDU is ESME_RINVCMDLEN. Besides:

- number_of_dests (5.2.24) and no_unsuccess (5.2.26) are at most 254: ESME_RINVNUMDESTS;
- dest_flag (5.2.25) is 1 (an SME address: TON, NPI, destination_addr of 21 octets) or 2 (a
  distribution list: dl_name of 21 octets, 5.2.27); any other value leaves the rest of
  the list unreadable: ESME_RINVDESTFLAG;
- submit_multi_resp has no TLVs in 3.4; an empty body (an error response) decodes with
  default values, and is what an error response without a list encodes to (as 4.4.2
  says of submit_sm_resp).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Final

from textgate.connectors.smpp.constants import CommandId, CommandStatus, PduError
from textgate.connectors.smpp.pdutypes import HEADER_LENGTH, MAX_SM_LENGTH, NO_TLVS, Pdu
from textgate.connectors.smpp.tlv import Tlvs, decode_tlvs

__all__ = [
    "DEST_DISTRIBUTION_LIST",
    "DEST_SME_ADDRESS",
    "MAX_DESTS",
    "DestAddress",
    "SubmitMulti",
    "SubmitMultiResp",
    "UnsuccessSme",
    "decode_multi",
    "encode_multi",
]

_S = CommandStatus
DEST_SME_ADDRESS: Final = 1  # 5.2.25
DEST_DISTRIBUTION_LIST: Final = 2  # 5.2.25
MAX_DESTS: Final = 254  # 5.2.24 number_of_dests, 5.2.26 no_unsuccess
_ADDRESS_SIZE: Final = 21  # 5.2.9 destination_addr, 5.2.27 dl_name: 21 octets with the NUL
_HEADER: Final = struct.Struct(">IIII")


@dataclass(frozen=True, slots=True)
class DestAddress:
    """One entry of dest_address (4.5.1.1): an SME address (``dest_flag`` 1) or the name of
    a distribution list kept by the SMSC (``dest_flag`` 2, ``dl_name``)."""

    dest_flag: int = DEST_SME_ADDRESS
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    dl_name: str = ""

    @property
    def is_list(self) -> bool:
        return self.dest_flag == DEST_DISTRIBUTION_LIST


@dataclass(frozen=True, slots=True)
class UnsuccessSme:
    """One entry of unsuccess_sme (4.5.2.1): a destination the SMSC refused, and why (a
    command_status of 5.1.3, 4 octets)."""

    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    error_status_code: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitMulti(Pdu):
    """4.5.1: submit_sm's fields, with a list of destinations for its one."""

    command_id = CommandId.SUBMIT_MULTI
    _has_tlvs: ClassVar[bool] = True
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addresses: tuple[DestAddress, ...] = ()
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


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitMultiResp(Pdu):
    """4.5.2."""

    command_id = CommandId.SUBMIT_MULTI_RESP
    message_id: str = ""
    unsuccess_smes: tuple[UnsuccessSme, ...] = ()


# --------------------------------------------------------------------------- encode


class _Writer:
    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.body = bytearray()

    def c(self, name: str, value: str, size: int, status: int) -> None:
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            raise PduError(status, self.seq, f"{name}: not a Latin-1 octet string") from None
        if len(raw) >= size or 0 in raw:
            raise PduError(status, self.seq, f"{name}: {len(raw)} octets, max {size - 1}")
        self.body += raw + b"\x00"

    def u8(self, name: str, value: int) -> None:
        if not 0 <= value <= 0xFF:
            raise PduError(_S.ESME_RSYSERR, self.seq, f"{name}: {value} is not one octet")
        self.body.append(value)

    def count(self, name: str, items: tuple[object, ...]) -> None:
        if len(items) > MAX_DESTS:
            raise PduError(_S.ESME_RINVNUMDESTS, self.seq, f"{name}: {len(items)}, max 254")
        self.body.append(len(items))


def encode_multi(pdu: SubmitMulti | SubmitMultiResp, seq: int) -> bytes:
    """The wire form of either PDU, header included; PduError for what does not fit."""
    w = _Writer(seq)
    if isinstance(pdu, SubmitMulti):
        _write_request(w, pdu)
    elif pdu.command_status == 0 or pdu.message_id or pdu.unsuccess_smes:
        w.c("message_id", pdu.message_id, 65, _S.ESME_RINVMSGID)  # 5.2.23
        w.count("no_unsuccess", pdu.unsuccess_smes)
        for sme in pdu.unsuccess_smes:
            w.u8("dest_addr_ton", sme.dest_addr_ton)
            w.u8("dest_addr_npi", sme.dest_addr_npi)
            w.c("destination_addr", sme.destination_addr, _ADDRESS_SIZE, _S.ESME_RINVDSTADR)
            if not 0 <= sme.error_status_code <= 0xFFFFFFFF:
                raise PduError(_S.ESME_RSYSERR, seq, "error_status_code does not fit 4 octets")
            w.body += sme.error_status_code.to_bytes(4, "big")
    for name, value in (("command_status", pdu.command_status), ("sequence_number", seq)):
        if not 0 <= value <= 0xFFFFFFFF:
            raise PduError(_S.ESME_RSYSERR, None, f"{name} {value} does not fit 4 octets")
    length = HEADER_LENGTH + len(w.body)
    return _HEADER.pack(length, pdu.command_id, pdu.command_status, seq) + w.body


def _write_request(w: _Writer, pdu: SubmitMulti) -> None:
    w.c("service_type", pdu.service_type, 6, _S.ESME_RINVSERTYP)  # 5.2.11
    w.u8("source_addr_ton", pdu.source_addr_ton)
    w.u8("source_addr_npi", pdu.source_addr_npi)
    w.c("source_addr", pdu.source_addr, 21, _S.ESME_RINVSRCADR)  # 5.2.8
    w.count("number_of_dests", pdu.dest_addresses)
    for dest in pdu.dest_addresses:
        w.u8("dest_flag", dest.dest_flag)
        if dest.dest_flag == DEST_SME_ADDRESS:
            w.u8("dest_addr_ton", dest.dest_addr_ton)
            w.u8("dest_addr_npi", dest.dest_addr_npi)
            w.c("destination_addr", dest.destination_addr, _ADDRESS_SIZE, _S.ESME_RINVDSTADR)
        elif dest.dest_flag == DEST_DISTRIBUTION_LIST:
            w.c("dl_name", dest.dl_name, _ADDRESS_SIZE, _S.ESME_RINVDLNAME)
        else:
            raise PduError(_S.ESME_RINVDESTFLAG, w.seq, f"dest_flag {dest.dest_flag}")
    w.u8("esm_class", pdu.esm_class)
    w.u8("protocol_id", pdu.protocol_id)
    w.u8("priority_flag", pdu.priority_flag)
    w.c("schedule_delivery_time", pdu.schedule_delivery_time, 17, _S.ESME_RINVSCHED)  # 5.2.15
    w.c("validity_period", pdu.validity_period, 17, _S.ESME_RINVEXPIRY)  # 5.2.16
    w.u8("registered_delivery", pdu.registered_delivery)
    w.u8("replace_if_present_flag", pdu.replace_if_present_flag)
    w.u8("data_coding", pdu.data_coding)
    w.u8("sm_default_msg_id", pdu.sm_default_msg_id)
    if len(pdu.short_message) > MAX_SM_LENGTH:
        raise PduError(_S.ESME_RINVMSGLEN, w.seq, "short_message: over 254 octets")
    w.body.append(len(pdu.short_message))
    w.body += pdu.short_message
    w.body += pdu.tlvs.encode()


# --------------------------------------------------------------------------- decode


class _Reader:
    def __init__(self, data: bytes, seq: int) -> None:
        self.data = data
        self.seq = seq
        self.pos = HEADER_LENGTH

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def c(self, name: str, size: int, status: int) -> str:
        limit = self.pos + size
        nul = self.data.find(0, self.pos, min(limit, len(self.data)))
        if nul < 0:
            if limit > len(self.data):
                raise PduError(_S.ESME_RINVCMDLEN, self.seq, f"{name}: no NUL before the end")
            raise PduError(status, self.seq, f"{name}: longer than {size - 1} octets")
        value = self.data[self.pos : nul].decode("latin-1")
        self.pos = nul + 1
        return value

    def u8(self, name: str) -> int:
        if self.pos >= len(self.data):
            raise PduError(_S.ESME_RINVCMDLEN, self.seq, f"{name}: PDU ends before it")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u32(self, name: str) -> int:
        if self.left < 4:
            raise PduError(_S.ESME_RINVCMDLEN, self.seq, f"{name}: PDU ends before it")
        value = int.from_bytes(self.data[self.pos : self.pos + 4], "big")
        self.pos += 4
        return value

    def count(self, name: str) -> int:
        value = self.u8(name)
        if value > MAX_DESTS:
            raise PduError(_S.ESME_RINVNUMDESTS, self.seq, f"{name} {value}: max 254")
        return value


def decode_multi(data: bytes, status: int, seq: int) -> SubmitMulti | SubmitMultiResp:
    """Either PDU from its whole wire form (header checked by the caller); raises only
    PduError."""
    command_id = int.from_bytes(data[4:8], "big")
    r = _Reader(data, seq)
    if command_id == CommandId.SUBMIT_MULTI:
        return _read_request(r, status)
    if r.left == 0:
        return SubmitMultiResp(sequence_number=seq, command_status=status)
    message_id = r.c("message_id", 65, _S.ESME_RINVMSGID)
    smes = tuple(
        UnsuccessSme(
            r.u8("dest_addr_ton"),
            r.u8("dest_addr_npi"),
            r.c("destination_addr", _ADDRESS_SIZE, _S.ESME_RINVDSTADR),
            r.u32("error_status_code"),
        )
        for _ in range(r.count("no_unsuccess"))
    )
    if r.left:
        raise PduError(_S.ESME_RINVCMDLEN, seq, f"{r.left} octets after the body")
    return SubmitMultiResp(
        sequence_number=seq, command_status=status, message_id=message_id, unsuccess_smes=smes
    )


def _read_dest(r: _Reader) -> DestAddress:
    flag = r.u8("dest_flag")
    if flag == DEST_SME_ADDRESS:
        return DestAddress(
            flag,
            r.u8("dest_addr_ton"),
            r.u8("dest_addr_npi"),
            r.c("destination_addr", _ADDRESS_SIZE, _S.ESME_RINVDSTADR),
        )
    if flag == DEST_DISTRIBUTION_LIST:
        return DestAddress(flag, dl_name=r.c("dl_name", _ADDRESS_SIZE, _S.ESME_RINVDLNAME))
    raise PduError(_S.ESME_RINVDESTFLAG, r.seq, f"dest_flag {flag}: neither 1 nor 2")


def _read_request(r: _Reader, status: int) -> SubmitMulti:
    service_type = r.c("service_type", 6, _S.ESME_RINVSERTYP)
    source_ton, source_npi = r.u8("source_addr_ton"), r.u8("source_addr_npi")
    source = r.c("source_addr", 21, _S.ESME_RINVSRCADR)
    dests = tuple(_read_dest(r) for _ in range(r.count("number_of_dests")))
    esm_class, protocol_id, priority = r.u8("esm_class"), r.u8("protocol_id"), r.u8("priority")
    schedule = r.c("schedule_delivery_time", 17, _S.ESME_RINVSCHED)
    validity = r.c("validity_period", 17, _S.ESME_RINVEXPIRY)
    registered, replace = r.u8("registered_delivery"), r.u8("replace_if_present_flag")
    data_coding, default_msg_id = r.u8("data_coding"), r.u8("sm_default_msg_id")
    sm_length = r.u8("sm_length")
    if sm_length > MAX_SM_LENGTH or sm_length > r.left:
        raise PduError(
            _S.ESME_RINVMSGLEN, r.seq, f"sm_length {sm_length}: max 254, {r.left} octets left"
        )
    short_message = r.data[r.pos : r.pos + sm_length]
    r.pos += sm_length
    return SubmitMulti(
        sequence_number=r.seq,
        command_status=status,
        service_type=service_type,
        source_addr_ton=source_ton,
        source_addr_npi=source_npi,
        source_addr=source,
        dest_addresses=dests,
        esm_class=esm_class,
        protocol_id=protocol_id,
        priority_flag=priority,
        schedule_delivery_time=schedule,
        validity_period=validity,
        registered_delivery=registered,
        replace_if_present_flag=replace,
        data_coding=data_coding,
        sm_default_msg_id=default_msg_id,
        short_message=short_message,
        tlvs=decode_tlvs(r.data, r.pos, r.seq) if r.left else NO_TLVS,
    )
