"""SMPP 3.4 PDU dataclasses and their body layouts (section 4); the codec is ``pdus``.

Every body is described once, as a table of fields (``_layout``, made of the fields of
``layout``) in wire order, which the generic reader/writer in ``pdus`` walks. Import the
classes from ``pdus``, which re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Final

from textgate.connectors.smpp.constants import RESPONSE_BIT, CommandId, CommandStatus
from textgate.connectors.smpp.layout import (
    MESSAGE_ID,
    SERVICE_TYPE,
    SHORT_MESSAGE,
    Field,
    c_string,
    dest_address,
    source_address,
    u8,
)
from textgate.connectors.smpp.tlv import Tlvs
from textgate.core.frozen import quick_init

HEADER_LENGTH: Final = 16  # 3.2: command_length, command_id, command_status, sequence_number
DEFAULT_MAX_PDU_LENGTH: Final = 64 * 1024
MAX_SM_LENGTH: Final = 254  # 5.2.21
_S = CommandStatus
NO_TLVS: Final = Tlvs()


# --------------------------------------------------------------------------- PDU classes


@dataclass(frozen=True, slots=True, kw_only=True)
class Pdu:
    """Common header (3.2). ``command_id`` is a class attribute of each concrete PDU."""

    command_id: ClassVar[CommandId]
    _layout: ClassVar[tuple[Field, ...]] = ()
    _has_tlvs: ClassVar[bool] = False

    sequence_number: int
    command_status: int = 0

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)


@dataclass(frozen=True, slots=True, kw_only=True)
class Bind(Pdu):
    """bind_transmitter / bind_receiver / bind_transceiver body, 4.1.1 / 4.1.3 / 4.1.5."""

    _layout: ClassVar[tuple[Field, ...]] = (
        c_string("system_id", 16, _S.ESME_RINVSYSID),
        c_string("password", 9, _S.ESME_RINVPASWD),
        c_string("system_type", 13, _S.ESME_RINVSYSTYP),
        u8("interface_version"),
        u8("addr_ton"),
        u8("addr_npi"),
        c_string("address_range", 41, _S.ESME_RBINDFAIL),
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

    _layout: ClassVar[tuple[Field, ...]] = (c_string("system_id", 16, _S.ESME_RINVSYSID),)
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
    _layout: ClassVar[tuple[Field, ...]] = (
        c_string("system_id", 16, _S.ESME_RINVSYSID),
        c_string("password", 9, _S.ESME_RINVPASWD),
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


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLink(Pdu):
    command_id = CommandId.ENQUIRE_LINK  # 4.11.1


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLinkResp(Pdu):
    command_id = CommandId.ENQUIRE_LINK_RESP  # 4.11.2


@dataclass(frozen=True, slots=True, kw_only=True)
class SmPdu(Pdu):
    """The body shared by submit_sm (4.4.1) and deliver_sm (4.6.1)."""

    _layout: ClassVar[tuple[Field, ...]] = (
        SERVICE_TYPE,
        *source_address(21),
        *dest_address(21),
        u8("esm_class"),  # 5.2.12
        u8("protocol_id"),
        u8("priority_flag"),
        c_string("schedule_delivery_time", 17, _S.ESME_RINVSCHED),  # 5.2.15
        c_string("validity_period", 17, _S.ESME_RINVEXPIRY),  # 5.2.16
        u8("registered_delivery"),  # 5.2.17
        u8("replace_if_present_flag"),
        u8("data_coding"),  # 5.2.19
        u8("sm_default_msg_id"),
        SHORT_MESSAGE,
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


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSm(SmPdu):
    command_id = CommandId.SUBMIT_SM


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSm(SmPdu):
    command_id = CommandId.DELIVER_SM


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageIdResp(Pdu):
    _layout: ClassVar[tuple[Field, ...]] = (MESSAGE_ID,)
    _has_tlvs: ClassVar[bool] = True
    message_id: str = ""
    tlvs: Tlvs = NO_TLVS


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSmResp(MessageIdResp):
    command_id = CommandId.SUBMIT_SM_RESP  # 4.4.2


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSmResp(MessageIdResp):
    command_id = CommandId.DELIVER_SM_RESP  # 4.6.2 (message_id unused, set to NULL)


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSmResp(MessageIdResp):
    command_id = CommandId.DATA_SM_RESP  # 4.7.2


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSm(Pdu):
    """4.7.1 (addresses up to 65 octets; the message travels in TLV message_payload)."""

    command_id = CommandId.DATA_SM
    _layout: ClassVar[tuple[Field, ...]] = (
        SERVICE_TYPE,
        *source_address(65),
        *dest_address(65),
        u8("esm_class"),
        u8("registered_delivery"),
        u8("data_coding"),
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
    _layout: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, *source_address(21))
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class QuerySmResp(Pdu):
    """4.8.2 (message_state: 5.2.28, error_code: 5.2.31)."""

    command_id = CommandId.QUERY_SM_RESP
    _layout: ClassVar[tuple[Field, ...]] = (
        MESSAGE_ID,
        c_string("final_date", 17, _S.ESME_RQUERYFAIL),
        u8("message_state"),
        u8("error_code"),
    )
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelSm(Pdu):
    """4.9.1."""

    command_id = CommandId.CANCEL_SM
    _layout: ClassVar[tuple[Field, ...]] = (
        SERVICE_TYPE,
        MESSAGE_ID,
        *source_address(21),
        *dest_address(21),
    )
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
    _layout: ClassVar[tuple[Field, ...]] = (
        MESSAGE_ID,
        *source_address(21),
        c_string("schedule_delivery_time", 17, _S.ESME_RINVSCHED),
        c_string("validity_period", 17, _S.ESME_RINVEXPIRY),
        u8("registered_delivery"),
        u8("sm_default_msg_id"),
        SHORT_MESSAGE,
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
    _layout: ClassVar[tuple[Field, ...]] = (
        *source_address(65),
        u8("esme_addr_ton"),
        u8("esme_addr_npi"),
        c_string("esme_addr", 65, _S.ESME_RINVDSTADR),
    )
    _has_tlvs: ClassVar[bool] = True
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""
    tlvs: Tlvs = NO_TLVS


PDU_CLASSES: Final[dict[int, type[Pdu]]] = {
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
FIELD_DEFAULTS: Final[dict[type[Pdu], dict[str, Any]]] = {
    cls: {f.name: f.default for f in fields(cls) if f.name not in ("sequence_number",)}
    for cls in PDU_CLASSES.values()
}
