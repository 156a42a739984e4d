"""SMPP 3.4 PDU codec: round trips, hand-written byte vectors, malformed input, fuzzing."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textgate.connectors.smpp import pdus as pdus_module
from textgate.connectors.smpp.constants import CommandId, CommandStatus, PduError, Tag
from textgate.connectors.smpp.framing import Framer
from textgate.connectors.smpp.multi import (
    DEST_DISTRIBUTION_LIST,
    DestAddress,
    SubmitMulti,
    SubmitMultiResp,
    UnsuccessSme,
)
from textgate.connectors.smpp.pdus import (
    NO_TLVS,
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
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
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    decode,
    encode,
)
from textgate.connectors.smpp.pdutypes import PDU_CLASSES
from textgate.connectors.smpp.shortmessage import (
    Concat,
    concat_from_tlvs,
    decode_short_message,
    encode_short_message,
    parse_udh,
)
from textgate.connectors.smpp.tlv import Tlvs
from textgate.core.encoding import concat_udh
from textgate.errors import InvalidRequest

S = CommandStatus

VENDOR_TLVS = Tlvs(
    (
        (Tag.USER_MESSAGE_REFERENCE, b"\x00\x2a"),
        (0x1401, b"\xff\x00vendor\x00\x01"),  # vendor-specific, kept raw
        (0x3FFF, b""),
    )
)

FULL_SM = {
    "service_type": "CMT",
    "source_addr_ton": 5,
    "source_addr_npi": 0,
    "source_addr": "ACME",
    "dest_addr_ton": 1,
    "dest_addr_npi": 1,
    "destination_addr": "447700900123",
    "esm_class": 0x40,
    "protocol_id": 0,
    "priority_flag": 1,
    "schedule_delivery_time": "260101120000000+",
    "validity_period": "000001000000000R",
    "registered_delivery": 1,
    "replace_if_present_flag": 0,
    "data_coding": 8,
    "sm_default_msg_id": 0,
    "short_message": bytes(range(254)),
    "tlvs": VENDOR_TLVS,
}

ROUND_TRIP: list[tuple[str, Pdu]] = [
    ("bind_transmitter", BindTransmitter(sequence_number=1, system_id="esme", password="secret")),
    (
        "bind_receiver",
        BindReceiver(
            sequence_number=2,
            system_id="x" * 15,
            password="p" * 8,
            system_type="VMA",
            addr_ton=1,
            addr_npi=1,
            address_range="^44" + "9" * 37,
        ),
    ),
    ("bind_transceiver", BindTransceiver(sequence_number=0x7FFFFFFF, system_id="trx")),
    (
        "bind_transmitter_resp",
        BindTransmitterResp(
            sequence_number=1,
            system_id="SMSC",
            tlvs=Tlvs().with_int(Tag.SC_INTERFACE_VERSION, 0x34, 1),
        ),
    ),
    ("bind_receiver_resp", BindReceiverResp(sequence_number=2, system_id="SMSC")),
    (
        "bind_transceiver_resp_error",
        BindTransceiverResp(sequence_number=3, command_status=S.ESME_RINVPASWD),
    ),
    ("outbind", Outbind(sequence_number=4, system_id="smsc", password="pw")),
    ("unbind", Unbind(sequence_number=5)),
    ("unbind_resp", UnbindResp(sequence_number=5)),
    ("generic_nack", GenericNack(sequence_number=6, command_status=S.ESME_RINVCMDID)),
    ("enquire_link", EnquireLink(sequence_number=7)),
    ("enquire_link_resp", EnquireLinkResp(sequence_number=7)),
    ("submit_sm_minimal", SubmitSm(sequence_number=8)),
    ("submit_sm_full", SubmitSm(sequence_number=9, **FULL_SM)),  # type: ignore[arg-type]
    ("submit_sm_resp", SubmitSmResp(sequence_number=9, message_id="a" * 64)),
    (
        "submit_sm_resp_throttled",
        SubmitSmResp(sequence_number=9, command_status=S.ESME_RTHROTTLED),
    ),
    ("deliver_sm_full", DeliverSm(sequence_number=10, **FULL_SM)),  # type: ignore[arg-type]
    ("deliver_sm_resp", DeliverSmResp(sequence_number=10)),
    (
        "data_sm",
        DataSm(
            sequence_number=11,
            source_addr="1" * 64,
            destination_addr="2" * 64,
            esm_class=0,
            registered_delivery=1,
            data_coding=0,
            tlvs=Tlvs().with_bytes(Tag.MESSAGE_PAYLOAD, b"x" * 1000),
        ),
    ),
    (
        "data_sm_resp",
        DataSmResp(
            sequence_number=11,
            message_id="m1",
            tlvs=Tlvs().with_str(Tag.ADDITIONAL_STATUS_INFO_TEXT, "ok"),
        ),
    ),
    ("query_sm", QuerySm(sequence_number=12, message_id="abc", source_addr="123")),
    (
        "query_sm_resp",
        QuerySmResp(
            sequence_number=12,
            message_id="abc",
            final_date="260101120000000+",
            message_state=2,
            error_code=0,
        ),
    ),
    (
        "cancel_sm",
        CancelSm(sequence_number=13, message_id="abc", source_addr="1", destination_addr="2"),
    ),
    ("cancel_sm_resp", CancelSmResp(sequence_number=13)),
    (
        "replace_sm",
        ReplaceSm(sequence_number=14, message_id="abc", source_addr="1", short_message=b"new"),
    ),
    ("replace_sm_resp", ReplaceSmResp(sequence_number=14)),
    (
        "alert_notification",
        AlertNotification(
            sequence_number=15,
            source_addr="447700900123",
            esme_addr="ESME",
            tlvs=Tlvs().with_int(Tag.MS_AVAILABILITY_STATUS, 0, 1),
        ),
    ),
    (
        "submit_multi",
        SubmitMulti(
            sequence_number=17,
            **{k: v for k, v in FULL_SM.items() if not k.startswith("dest")},
            dest_addresses=(
                DestAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="4" * 20),
                DestAddress(DEST_DISTRIBUTION_LIST, dl_name="L" * 20),
                DestAddress(),
            ),
        ),
    ),
    ("submit_multi_no_dests", SubmitMulti(sequence_number=18)),
    (
        "submit_multi_resp",
        SubmitMultiResp(
            sequence_number=19,
            message_id="01J0ABC",
            unsuccess_smes=(
                UnsuccessSme(1, 1, "33612345678", S.ESME_RINVDSTADR),
                UnsuccessSme(0, 0, "", 0xFFFFFFFF),
            ),
        ),
    ),
    ("submit_multi_resp_error", SubmitMultiResp(sequence_number=20, command_status=8)),
    (
        "latin1_octets_in_c_strings",
        SubmitSm(sequence_number=16, source_addr="\xe9\xff", short_message=b"\x00"),
    ),
]


@pytest.mark.parametrize("pdu", [p for _, p in ROUND_TRIP], ids=[i for i, _ in ROUND_TRIP])
def test_round_trip(pdu: Pdu) -> None:
    data = encode(pdu)
    assert struct.unpack(">I", data[:4])[0] == len(data)
    decoded = decode(data)
    assert decoded == pdu
    assert type(decoded) is type(pdu)
    assert encode(decoded) == data


def test_every_command_id_has_a_round_trip_case() -> None:
    covered = {pdu.command_id for _, pdu in ROUND_TRIP}
    missing = set(CommandId) - covered
    assert not missing


def test_vendor_tlvs_are_kept_byte_exact() -> None:
    pdu = decode(encode(DeliverSm(sequence_number=1, tlvs=VENDOR_TLVS)))
    assert isinstance(pdu, DeliverSm)
    assert pdu.tlvs.items == VENDOR_TLVS.items
    assert pdu.tlvs.get(0x1401) == b"\xff\x00vendor\x00\x01"
    assert pdu.tlvs.get_int(Tag.USER_MESSAGE_REFERENCE) == 42


# Hand-written from the section 4 layouts: command_length, command_id, status, sequence.
VECTORS: list[tuple[str, str, Pdu]] = [
    ("enquire_link", "00000010 00000015 00000000 00000001", EnquireLink(sequence_number=1)),
    (
        "enquire_link_resp",
        "00000010 80000015 00000000 00000001",
        EnquireLinkResp(sequence_number=1),
    ),
    (
        "generic_nack_invcmdid",
        "00000010 80000000 00000003 0000002a",
        GenericNack(sequence_number=42, command_status=S.ESME_RINVCMDID),
    ),
    ("unbind", "00000010 00000006 00000000 00000002", Unbind(sequence_number=2)),
    (
        # system_id "ab\0", password "pw\0", system_type "\0", version 0x34, ton 0, npi 0, "\0"
        "bind_transceiver",
        "0000001b 00000009 00000000 00000003 616200 707700 00 34 00 00 00",
        BindTransceiver(sequence_number=3, system_id="ab", password="pw"),
    ),
    (
        "bind_transmitter_resp_with_sc_interface_version",
        "00000017 80000002 00000000 00000003 5800 0210 0001 34",
        BindTransmitterResp(
            sequence_number=3,
            system_id="X",
            tlvs=Tlvs(((Tag.SC_INTERFACE_VERSION, b"\x34"),)),
        ),
    ),
    (
        "submit_sm_hi",
        "00000029 00000004 00000000 00000005 00 01 01 313233 00 01 01 343536 00"
        " 00 00 00 00 00 01 00 00 00 02 6869",
        SubmitSm(
            sequence_number=5,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="123",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="456",
            registered_delivery=1,
            short_message=b"hi",
        ),
    ),
    (
        "submit_sm_resp",
        "00000014 80000004 00000000 00000005 61626300",
        SubmitSmResp(sequence_number=5, message_id="abc"),
    ),
    (
        # 4.5.1: number_of_dests 2, an SME address (flag 1) and a distribution list (flag 2)
        "submit_multi_hi",
        "0000002f 00000021 00000000 00000005 00 01 01 31323300 02 01 01 01 34353600 02 4c4900"
        " 00 00 00 00 00 01 00 00 00 02 6869",
        SubmitMulti(
            sequence_number=5,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="123",
            dest_addresses=(
                DestAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="456"),
                DestAddress(DEST_DISTRIBUTION_LIST, dl_name="LI"),
            ),
            registered_delivery=1,
            short_message=b"hi",
        ),
    ),
    (
        # 4.5.2: no_unsuccess 1: ton 1, npi 1, "456", error_status_code ESME_RINVDSTADR
        "submit_multi_resp",
        "0000001f 80000021 00000000 00000005 61626300 01 01 01 34353600 0000000b",
        SubmitMultiResp(
            sequence_number=5,
            message_id="abc",
            unsuccess_smes=(UnsuccessSme(1, 1, "456", S.ESME_RINVDSTADR),),
        ),
    ),
    (
        "submit_sm_resp_error_without_body",
        "00000010 80000004 00000045 00000005",
        SubmitSmResp(sequence_number=5, command_status=S.ESME_RSUBMITFAIL),
    ),
]


@pytest.mark.parametrize(
    ("hexdata", "pdu"), [(h, p) for _, h, p in VECTORS], ids=[i for i, _, _ in VECTORS]
)
def test_known_vectors(hexdata: str, pdu: Pdu) -> None:
    data = bytes.fromhex(hexdata.replace(" ", ""))
    assert decode(data) == pdu
    assert encode(pdu) == data


def test_empty_deliver_sm_resp_body_is_tolerated() -> None:
    data = bytes.fromhex("00000010800000050000000000000009")
    assert decode(data) == DeliverSmResp(sequence_number=9)


def _hdr(length: int, command_id: int, seq: int = 7, status: int = 0) -> bytes:
    return struct.pack(">IIII", length, command_id, status, seq)


def _pdu(command_id: int, body: bytes, seq: int = 7) -> bytes:
    return _hdr(16 + len(body), command_id, seq) + body


_SUBMIT_HEAD = b"\x00" + b"\x01\x01" + b"123\x00" + b"\x01\x01" + b"456\x00" + b"\x00" * 3
_SUBMIT_MID = b"\x00\x00" + b"\x00" * 4  # schedule, validity, 4 flags
_MULTI_HEAD = b"\x00" + b"\x01\x01" + b"123\x00"  # service_type, source_addr (4.5.1)


MALFORMED: list[tuple[str, bytes, int, int | None]] = [
    ("empty", b"", S.ESME_RINVCMDLEN, None),
    ("short_header", bytes.fromhex("000000100000001500000000"), S.ESME_RINVCMDLEN, None),
    ("length_too_big", _hdr(17, CommandId.ENQUIRE_LINK), S.ESME_RINVCMDLEN, 7),
    ("length_too_small", _hdr(15, CommandId.ENQUIRE_LINK), S.ESME_RINVCMDLEN, 7),
    ("unknown_command_id", _hdr(16, 0x00000099), S.ESME_RINVCMDID, 7),
    ("unknown_resp_id", _hdr(16, 0x80000099), S.ESME_RINVCMDID, 7),
    ("submit_multi_no_body", _hdr(16, CommandId.SUBMIT_MULTI), S.ESME_RINVCMDLEN, 7),
    ("submit_multi_255_dests", _pdu(CommandId.SUBMIT_MULTI, _MULTI_HEAD + b"\xff" + b"\x00" * 30),
     S.ESME_RINVNUMDESTS, 7),
    ("submit_multi_dest_flag_3",
     _pdu(CommandId.SUBMIT_MULTI, _MULTI_HEAD + b"\x01\x03" + b"\x00" * 30),
     S.ESME_RINVDESTFLAG, 7),
    ("submit_multi_dl_name_too_long",
     _pdu(CommandId.SUBMIT_MULTI, _MULTI_HEAD + b"\x01\x02" + b"L" * 21 + b"\x00" * 30),
     S.ESME_RINVDLNAME, 7),
    ("submit_multi_dests_past_end",
     _pdu(CommandId.SUBMIT_MULTI, _MULTI_HEAD + b"\x02\x01\x01\x01" + b"4\x00"),
     S.ESME_RINVCMDLEN, 7),
    ("submit_multi_resp_list_past_end",
     _pdu(CommandId.SUBMIT_MULTI_RESP, b"id\x00\x01\x01\x01123\x00\x00"), S.ESME_RINVCMDLEN, 7),
    ("submit_multi_resp_trailing", _pdu(CommandId.SUBMIT_MULTI_RESP, b"id\x00\x00\x00"),
     S.ESME_RINVCMDLEN, 7),
    ("trailing_octets_enquire_link", _pdu(CommandId.ENQUIRE_LINK, b"\x00"), S.ESME_RINVCMDLEN, 7),
    ("bind_no_body", _pdu(CommandId.BIND_TRANSMITTER, b""), S.ESME_RINVCMDLEN, 7),
    ("bind_missing_nul", _pdu(CommandId.BIND_TRANSMITTER, b"abc"), S.ESME_RINVCMDLEN, 7),
    ("bind_system_id_too_long", _pdu(CommandId.BIND_TRANSMITTER, b"s" * 16 + b"\x00" * 9),
     S.ESME_RINVSYSID, 7),
    ("bind_password_too_long", _pdu(CommandId.BIND_TRANSMITTER, b"\x00" + b"p" * 9 + b"\x00" * 9),
     S.ESME_RINVPASWD, 7),
    ("bind_truncated_after_strings", _pdu(CommandId.BIND_TRANSMITTER, b"\x00\x00\x00\x34"),
     S.ESME_RINVCMDLEN, 7),
    ("submit_source_too_long",
     _pdu(CommandId.SUBMIT_SM, b"\x00\x01\x01" + b"1" * 21 + b"\x00" * 40),
     S.ESME_RINVSRCADR, 7),
    ("submit_dest_too_long",
     _pdu(CommandId.SUBMIT_SM, b"\x00\x01\x011\x00\x01\x01" + b"2" * 21 + b"\x00" * 40),
     S.ESME_RINVDSTADR, 7),
    ("submit_service_type_too_long", _pdu(CommandId.SUBMIT_SM, b"ABCDEF" + b"\x00" * 40),
     S.ESME_RINVSERTYP, 7),
    ("submit_schedule_too_long",
     _pdu(CommandId.SUBMIT_SM, _SUBMIT_HEAD + b"1" * 17 + b"\x00" * 20), S.ESME_RINVSCHED, 7),
    ("submit_sm_length_past_end",
     _pdu(CommandId.SUBMIT_SM, _SUBMIT_HEAD + _SUBMIT_MID + b"\x05hi"), S.ESME_RINVMSGLEN, 7),
    ("submit_sm_length_255",
     _pdu(CommandId.SUBMIT_SM, _SUBMIT_HEAD + _SUBMIT_MID + b"\xff" + b"x" * 255),
     S.ESME_RINVMSGLEN, 7),
    ("submit_sm_length_missing", _pdu(CommandId.SUBMIT_SM, _SUBMIT_HEAD + _SUBMIT_MID),
     S.ESME_RINVCMDLEN, 7),
    ("submit_truncated_tlv_header",
     _pdu(CommandId.SUBMIT_SM, _SUBMIT_HEAD + _SUBMIT_MID + b"\x00\x02\x04"),
     S.ESME_RINVOPTPARSTREAM, 7),
    ("submit_tlv_length_past_end",
     _pdu(CommandId.SUBMIT_SM, _SUBMIT_HEAD + _SUBMIT_MID + b"\x00" + b"\x04\x24\x00\x09abc"),
     S.ESME_RINVOPTPARSTREAM, 7),
    ("submit_resp_message_id_too_long",
     _pdu(CommandId.SUBMIT_SM_RESP, b"m" * 65 + b"\x00"), S.ESME_RINVMSGID, 7),
    ("query_sm_resp_truncated", _pdu(CommandId.QUERY_SM_RESP, b"id\x00\x00\x02"),
     S.ESME_RINVCMDLEN, 7),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "status", "seq"),
    [(d, s, q) for _, d, s, q in MALFORMED],
    ids=[i for i, _, _, _ in MALFORMED],
)
def test_malformed_input_raises_pdu_error(data: bytes, status: int, seq: int | None) -> None:
    with pytest.raises(PduError) as info:
        decode(data)
    assert info.value.command_status == status, info.value.message
    assert info.value.sequence_number == seq


ENCODE_ERRORS: list[tuple[str, Pdu, int]] = [
    ("system_id_too_long", BindTransmitter(sequence_number=1, system_id="s" * 16),
     S.ESME_RINVSYSID),
    ("source_not_latin1", SubmitSm(sequence_number=1, source_addr="Ж"), S.ESME_RINVSRCADR),
    ("nul_in_c_string", SubmitSm(sequence_number=1, destination_addr="1\x002"), S.ESME_RINVDSTADR),
    ("short_message_255", SubmitSm(sequence_number=1, short_message=b"x" * 255), S.ESME_RINVMSGLEN),
    ("octet_out_of_range", SubmitSm(sequence_number=1, esm_class=256), S.ESME_RSYSERR),
    ("sequence_too_big", EnquireLink(sequence_number=1 << 32), S.ESME_RSYSERR),
    ("multi_255_dests", SubmitMulti(sequence_number=1, dest_addresses=(DestAddress(),) * 255),
     S.ESME_RINVNUMDESTS),
    ("multi_dest_flag_3", SubmitMulti(sequence_number=1, dest_addresses=(DestAddress(3),)),
     S.ESME_RINVDESTFLAG),
    ("multi_dest_too_long",
     SubmitMulti(sequence_number=1, dest_addresses=(DestAddress(destination_addr="1" * 21),)),
     S.ESME_RINVDSTADR),
    ("multi_dl_name_too_long",
     SubmitMulti(sequence_number=1, dest_addresses=(DestAddress(2, dl_name="L" * 21),)),
     S.ESME_RINVDLNAME),
    ("multi_resp_error_code_too_big",
     SubmitMultiResp(sequence_number=1, unsuccess_smes=(UnsuccessSme(0, 0, "1", 1 << 32),)),
     S.ESME_RSYSERR),
]  # fmt: skip


@pytest.mark.parametrize(
    ("pdu", "status"), [(p, s) for _, p, s in ENCODE_ERRORS], ids=[i for i, _, _ in ENCODE_ERRORS]
)
def test_encode_rejects_values_the_wire_cannot_carry(pdu: Pdu, status: int) -> None:
    with pytest.raises(PduError) as info:
        encode(pdu)
    assert info.value.command_status == status


# --------------------------------------------------------------------------- TLV helpers


def test_tlv_helpers() -> None:
    tlvs = (
        Tlvs()
        .with_int(Tag.SAR_MSG_REF_NUM, 0x1234, 2)
        .with_int(Tag.SAR_TOTAL_SEGMENTS, 3, 1)
        .with_str(Tag.RECEIPTED_MESSAGE_ID, "abc")
        .with_int(Tag.NETWORK_ERROR_CODE, 0x030001, 4)
    )
    assert tlvs.get_int(Tag.SAR_MSG_REF_NUM) == 0x1234
    assert tlvs.get_int(Tag.SAR_TOTAL_SEGMENTS) == 3
    assert tlvs.get_str(Tag.RECEIPTED_MESSAGE_ID) == "abc"
    assert tlvs.get(Tag.RECEIPTED_MESSAGE_ID) == b"abc\x00"
    assert tlvs.get_int(Tag.MESSAGE_STATE) is None
    assert Tag.SAR_MSG_REF_NUM in tlvs
    replaced = tlvs.with_int(Tag.SAR_TOTAL_SEGMENTS, 4, 1)
    assert [t for t, _ in replaced] == [t for t, _ in tlvs]
    assert replaced.get_int(Tag.SAR_TOTAL_SEGMENTS) == 4
    assert Tag.SAR_TOTAL_SEGMENTS not in tlvs.without(Tag.SAR_TOTAL_SEGMENTS)
    assert len(tlvs) == 4


def test_tlv_int_of_odd_length_is_a_pdu_error() -> None:
    with pytest.raises(PduError) as info:
        Tlvs(((Tag.MESSAGE_STATE, b"\x00\x00\x02"),)).get_int(Tag.MESSAGE_STATE)
    assert info.value.command_status == S.ESME_RINVPARLEN


def test_tlv_c_string_without_nul_is_tolerated() -> None:
    assert Tlvs(((Tag.RECEIPTED_MESSAGE_ID, b"abc"),)).get_str(Tag.RECEIPTED_MESSAGE_ID) == "abc"


# --------------------------------------------------------------------------- fuzzing

_REQUEST_IDS = [int(c) for c in CommandId] + [0x99, 0x80000099]


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_decode_arbitrary_bytes_raises_only_pdu_error(data: bytes) -> None:
    with contextlib.suppress(PduError):
        decode(data)


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from(_REQUEST_IDS),
    st.integers(0, 0xFFFFFFFF),
    st.binary(max_size=400),
)
def test_decode_valid_header_arbitrary_body(command_id: int, status: int, body: bytes) -> None:
    data = struct.pack(">IIII", 16 + len(body), command_id, status, 1) + body
    try:
        pdu = decode(data)
    except PduError as exc:
        assert exc.sequence_number == 1
    else:
        assert pdu.command_id == command_id
        assert decode(encode(pdu)) == pdu


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([p for _, p in ROUND_TRIP]), st.data())
def test_decode_truncated_or_extended_valid_pdus(pdu: Pdu, data: st.DataObject) -> None:
    raw = encode(pdu)
    cut = data.draw(st.integers(16, len(raw)))
    extra = data.draw(st.binary(max_size=8))
    body = raw[16:cut] + extra
    mutated = struct.pack(">I", 16 + len(body)) + raw[4:16] + body
    with contextlib.suppress(PduError):
        decode(mutated)


# The per-message PDUs have unrolled codecs; they must agree with the generic table walk on
# every input, the invalid ones included (same bytes, same PduError status and sequence).


def _outcome(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except PduError as exc:
        return ("error", exc.command_status, exc.sequence_number)


_short_text = st.text(st.characters(max_codepoint=0x17F), max_size=24)
_octet = st.integers(-1, 256)


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from([SubmitSm, DeliverSm]),
    st.integers(-1, 0x100000000),
    st.fixed_dictionaries(
        {
            "service_type": _short_text,
            "source_addr_ton": _octet,
            "source_addr_npi": _octet,
            "source_addr": _short_text,
            "dest_addr_ton": _octet,
            "destination_addr": _short_text,
            "esm_class": _octet,
            "schedule_delivery_time": _short_text,
            "validity_period": _short_text,
            "registered_delivery": _octet,
            "data_coding": _octet,
            "short_message": st.binary(max_size=260),
            "tlvs": st.sampled_from([NO_TLVS, Tlvs(((Tag.MESSAGE_STATE, b"\x02"),))]),
        }
    ),
)
def test_unrolled_sm_encoder_agrees_with_generic(
    cls: type[SubmitSm], seq: int, values: dict[str, Any]
) -> None:
    pdu = cls(sequence_number=seq, **values)
    fast = _outcome(lambda: encode(pdu))
    assert fast == _outcome(lambda: pdus_module._encode_generic(pdu, seq))
    if isinstance(fast, bytes):
        assert decode(fast) == pdu


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([SubmitSmResp, DeliverSmResp, DataSmResp]),
    st.integers(0, 0xFFFFFFFF),
    st.sampled_from(["", "0a1b2c", "x" * 64, "x" * 65, "a\x00b", "é€"]),
    st.sampled_from([NO_TLVS, Tlvs(((0x1400, b"v"),))]),
)
def test_unrolled_resp_encoder_agrees_with_generic(
    cls: type[SubmitSmResp], status: int, message_id: str, tlvs: Tlvs
) -> None:
    pdu = cls(sequence_number=3, command_status=status, message_id=message_id, tlvs=tlvs)
    assert _outcome(lambda: encode(pdu)) == _outcome(lambda: pdus_module._encode_generic(pdu, 3))


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from([0x04, 0x05, 0x80000004, 0x80000005, 0x80000103, 0x15, 0x80000000]),
    st.binary(max_size=300),
)
def test_unrolled_decoders_agree_with_generic(command_id: int, body: bytes) -> None:
    data = struct.pack(">IIII", 16 + len(body), command_id, 0, 9) + body
    cls = PDU_CLASSES[command_id]
    assert _outcome(lambda: decode(data)) == _outcome(
        lambda: pdus_module._decode_generic(cls, data, 0, 9)
    )


def test_encode_with_another_sequence_number() -> None:
    pdu = SubmitSm(sequence_number=0, destination_addr="123", short_message=b"hi")
    data = encode(pdu, sequence_number=42)
    assert decode(data) == SubmitSm(sequence_number=42, destination_addr="123", short_message=b"hi")
    with pytest.raises(PduError):
        encode(pdu, sequence_number=-1)


_STREAM = [encode(p) for _, p in ROUND_TRIP]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_STREAM), max_size=12), st.data())
def test_framer_yields_exactly_the_pdus_for_any_chunking(
    pdus: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(pdus)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    framer = Framer()
    out: list[bytes] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        out += framer.feed(stream[prev:cut])
        prev = cut
    assert out == pdus
    assert framer.pending == 0


@pytest.mark.parametrize(
    ("length", "max_length"), [(15, 65536), (0, 65536), (65537, 65536), (1001, 1000)]
)
def test_framer_rejects_bad_command_length(length: int, max_length: int) -> None:
    framer = Framer(max_length=max_length)
    with pytest.raises(PduError) as info:
        framer.feed(struct.pack(">IIII", length, 0x15, 0, 9))
    assert info.value.command_status == S.ESME_RINVCMDLEN
    assert info.value.sequence_number == 9


def test_framer_returns_good_pdus_before_raising_and_stays_broken() -> None:
    good = encode(EnquireLink(sequence_number=1))
    framer = Framer()
    assert framer.feed(good + b"\x00\x00\x00\x05") == [good]
    with pytest.raises(PduError):
        framer.feed(b"")
    with pytest.raises(PduError):
        framer.feed(good)


def test_framer_buffer_is_bounded_by_max_length() -> None:
    framer = Framer(max_length=100)
    assert framer.feed(struct.pack(">I", 100) + b"x" * 50) == []
    assert framer.pending == 54
    assert len(framer.feed(b"y" * 46 + struct.pack(">I", 10**9))) == 1
    assert framer.pending == 4
    with pytest.raises(PduError):
        framer.feed(b"z" * 1000)


# --------------------------------------------------------------------------- short_message

TEXTS: list[tuple[str, str, int]] = [
    ("gsm7_plain", "Hello @ world", 0),
    ("gsm7_extension", "Price 5€ [50%] ~{ok}|^\\", 0),
    ("gsm7_dcs_f0", "class 0", 0xF0),
    ("ascii", "plain ascii", 1),
    ("latin1", "Garçon déjà", 3),
    ("ucs2_cyrillic", "Жжж", 8),
    ("ucs2_emoji", "a😀b🇫🇷", 8),
    ("empty", "", 0),
]


@pytest.mark.parametrize(
    ("text", "dcs"), [(t, d) for _, t, d in TEXTS], ids=[i for i, _, _ in TEXTS]
)
def test_short_message_text_round_trip(text: str, dcs: int) -> None:
    raw = encode_short_message(text, dcs)
    decoded = decode_short_message(raw, dcs)
    assert decoded.text == text
    assert decoded.udh == b""
    assert decoded.concat is None


def test_gsm7_extension_bytes() -> None:
    assert encode_short_message("€", 0) == b"\x1b\x65"
    assert encode_short_message("😀", 8) == bytes.fromhex("d83dde00")


@pytest.mark.parametrize(
    ("text", "dcs"), [("ç", 0), ("é", 1), ("Ж", 3), ("x", 4), ("x", 2)], ids=str
)
def test_encode_short_message_refuses_what_the_coding_cannot_carry(text: str, dcs: int) -> None:
    with pytest.raises(InvalidRequest):
        encode_short_message(text, dcs)


UDH_CASES: list[tuple[str, bytes, Concat]] = [
    ("ref8", concat_udh(0x12, 2, 1), Concat(0x12, 2, 1)),
    ("ref16", concat_udh(0x1234, 3, 3, ref16=True), Concat(0x1234, 3, 3, ref16=True)),
    (
        "ref8_after_other_ie",
        bytes.fromhex("0b 0504 0b840000 0003 aa0302".replace(" ", "")),
        Concat(0xAA, 3, 2),
    ),
]


@pytest.mark.parametrize(
    ("udh", "concat"), [(u, c) for _, u, c in UDH_CASES], ids=[i for i, _, _ in UDH_CASES]
)
@pytest.mark.parametrize(("text", "dcs"), [("Hi €{}", 0), ("Hi 😀", 8)], ids=["gsm7", "ucs2"])
def test_short_message_with_udh(udh: bytes, concat: Concat, text: str, dcs: int) -> None:
    raw = encode_short_message(text, dcs, udh)
    decoded = decode_short_message(raw, dcs, esm_class=0x40)
    assert decoded == decode_short_message(raw, dcs, esm_class=0x43)
    assert decoded.udh == udh
    assert decoded.concat == concat
    assert decoded.text == text
    assert decoded.payload == raw[len(udh) :]


def test_udh_without_udhi_is_text() -> None:
    raw = concat_udh(1, 2, 1) + b"hi"
    assert decode_short_message(raw, 4).text is None
    assert decode_short_message(raw, 4, 0x40).payload == b"hi"


@pytest.mark.parametrize(
    "udh",
    [b"", b"\x05\x00\x03\x01", b"\x03\x00\x03\x01", b"\x02\x00"],
    ids=["empty", "udhl_past_end", "ie_past_udh", "ie_header_cut"],
)
def test_malformed_udh_is_a_pdu_error(udh: bytes) -> None:
    with pytest.raises(PduError) as info:
        parse_udh(udh)
    assert info.value.command_status == S.ESME_RINVMSGLEN


@pytest.mark.parametrize(
    "udh",
    [concat_udh(1, 2, 1)[:-1] + b"\x03", b"\x05\x00\x03\x01\x00\x00"],
    ids=["seq>total", "zero"],
)
def test_invalid_concat_ie_is_ignored(udh: bytes) -> None:
    assert parse_udh(udh) == (udh, None)


def test_decoding_is_lenient_on_bad_text() -> None:
    assert decode_short_message(b"caf\xe9", 0).text == "café"  # Latin-1 under "SMSC default"
    assert decode_short_message(b"\x00a\x00", 8).text == "a\ufffd"
    assert decode_short_message(b"\x01\x02", 4).text is None


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=200), st.sampled_from([0, 1, 2, 3, 4, 8, 0xF0, 0xF4, 0x99]), st.booleans()
)
def test_decode_short_message_raises_only_pdu_error(data: bytes, dcs: int, udhi: bool) -> None:
    with contextlib.suppress(PduError):
        decode_short_message(data, dcs, 0x40 if udhi else 0)


@pytest.mark.parametrize(
    ("esm_class", "expected"),
    [(0x04, True), (0x44, True), (0x00, False), (0x08, False), (0x40, False)],
    ids=["receipt", "receipt_udhi", "normal", "sme_ack", "udhi"],
)
def test_is_delivery_receipt(esm_class: int, expected: bool) -> None:
    assert DeliverSm(sequence_number=1, esm_class=esm_class).is_delivery_receipt is expected


SAR: list[tuple[str, Tlvs, Concat | None]] = [
    (
        "ref8",
        Tlvs()
        .with_int(Tag.SAR_MSG_REF_NUM, 7, 2)
        .with_int(Tag.SAR_TOTAL_SEGMENTS, 2, 1)
        .with_int(Tag.SAR_SEGMENT_SEQNUM, 2, 1),
        Concat(7, 2, 2),
    ),
    (
        "ref16",
        Tlvs()
        .with_int(Tag.SAR_MSG_REF_NUM, 0x1234, 2)
        .with_int(Tag.SAR_TOTAL_SEGMENTS, 3, 1)
        .with_int(Tag.SAR_SEGMENT_SEQNUM, 1, 1),
        Concat(0x1234, 3, 1, ref16=True),
    ),
    ("missing_seq", Tlvs().with_int(Tag.SAR_MSG_REF_NUM, 7, 2), None),
    (
        "seq_above_total",
        Tlvs()
        .with_int(Tag.SAR_MSG_REF_NUM, 7, 2)
        .with_int(Tag.SAR_TOTAL_SEGMENTS, 2, 1)
        .with_int(Tag.SAR_SEGMENT_SEQNUM, 3, 1),
        None,
    ),
]


@pytest.mark.parametrize(
    ("tlvs", "expected"), [(t, c) for _, t, c in SAR], ids=[i for i, _, _ in SAR]
)
def test_concat_from_sar_tlvs(tlvs: Tlvs, expected: Concat | None) -> None:
    assert concat_from_tlvs(tlvs) == expected
