"""Messages of the SMSC simulator: the record of accepted submissions (with reassembly of
concatenated ones), the deliver_sm parts of a mobile-originated message, and the data_sm
form of a deliver_sm."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from textgate.connectors.smpp.constants import PduError, Tag
from textgate.connectors.smpp.inbound import part_text
from textgate.connectors.smpp.pdus import NO_TLVS, DataSm, DeliverSm, SubmitSm
from textgate.connectors.smpp.shortmessage import (
    ESM_UDHI,
    Concat,
    concat_from_tlvs,
    decode_short_message,
    encode_short_message,
)
from textgate.connectors.smpp.tlv import Tlvs
from textgate.core.encoding import Encoding, choose_encoding, segment, split_for_udh
from textgate.core.inbound import join_parts

__all__ = ["MoSplit", "Received", "as_data_sm", "mo_parts", "reassemble", "record_of"]

_MAX_SHORT_MESSAGE: Final = 254  # 5.2.21: short_message holds at most 254 octets


@dataclass(frozen=True, slots=True)
class Received:
    """One accepted submit_sm as the simulator saw it (``SmscOptions(record=True)``)."""

    message_id: str
    """The id given in submit_sm_resp."""
    source_addr: str
    destination_addr: str
    data_coding: int
    """5.2.19."""
    esm_class: int
    """5.2.12 (0x40: the short_message starts with a UDH)."""
    registered_delivery: int
    """5.2.17."""
    text: str | None
    """This part's text (UDH removed), from short_message or message_payload; None for a
    binary data_coding or undecodable octets."""
    reference: int | None = None
    """Concatenation reference from the UDH (23.040 9.2.3.24.1 / .8) or sar_msg_ref_num
    (5.3.2.22); None when the message is not concatenated."""
    total: int = 1
    """Number of parts (UDH or sar_total_segments, 5.3.2.23)."""
    sequence: int = 1
    """This part's number, from 1 (UDH or sar_segment_seqnum, 5.3.2.24)."""
    source_addr_ton: int = 0
    """5.2.5."""
    source_addr_npi: int = 0
    """5.2.6."""


def record_of(pdu: SubmitSm, message_id: str) -> Received:
    data = pdu.short_message or pdu.tlvs.get(Tag.MESSAGE_PAYLOAD) or b""
    text: str | None = None
    concat: Concat | None = None
    with contextlib.suppress(PduError):
        decoded = decode_short_message(data, pdu.data_coding, pdu.esm_class)
        text, concat = decoded.text, decoded.concat
    if concat is None:
        concat = concat_from_tlvs(pdu.tlvs)
    if text is not None and concat is not None and concat.total > 1:
        # Clients split by octets and may cut a character in two; keep its halves so
        # reassemble() can pair them (what the gateway's inbound store does too).
        text = part_text(decoded.payload, pdu.data_coding, text)
    return Received(
        message_id=message_id,
        source_addr=pdu.source_addr,
        destination_addr=pdu.destination_addr,
        data_coding=pdu.data_coding,
        esm_class=pdu.esm_class,
        registered_delivery=pdu.registered_delivery,
        text=text,
        reference=None if concat is None else concat.ref,
        total=1 if concat is None else concat.total,
        sequence=1 if concat is None else concat.seq,
        source_addr_ton=pdu.source_addr_ton,
        source_addr_npi=pdu.source_addr_npi,
    )


def reassemble(received: Iterable[Received]) -> dict[tuple[str, int | None], tuple[str, ...]]:
    """Full texts per (destination_addr, reference), in the order they were completed.

    Single-part messages are listed under reference None. A key may hold several texts
    because references are reused; parts of a message that never completed are left out,
    and a part number seen twice under one open key starts a new message.
    """
    out: dict[tuple[str, int | None], list[str]] = {}
    open_parts: dict[tuple[str, int, int], dict[int, str]] = {}
    for part in received:
        if part.reference is None or part.total <= 1:
            out.setdefault((part.destination_addr, part.reference), []).append(part.text or "")
            continue
        group_key = (part.destination_addr, part.reference, part.total)
        parts = open_parts.setdefault(group_key, {})
        if part.sequence in parts:
            parts = open_parts[group_key] = {}
        parts[part.sequence] = part.text or ""
        if len(parts) == part.total:
            del open_parts[group_key]
            text = join_parts([parts[i] for i in range(1, part.total + 1)])
            out.setdefault((part.destination_addr, part.reference), []).append(text)
    return {key: tuple(texts) for key, texts in out.items()}


class MoSplit(StrEnum):
    """How :meth:`Smsc.send_mo` carries a text."""

    AUTO = "auto"
    """One short_message when the text fits one SMS, else like UDH8."""
    UDH8 = "udh8"
    """Parts with an 8-bit reference concatenation UDH (23.040 9.2.3.24.1), esm_class 0x40."""
    UDH16 = "udh16"
    """Parts with a 16-bit reference concatenation UDH (23.040 9.2.3.24.8), esm_class 0x40."""
    SAR = "sar"
    """Parts with sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs
    (SMPP 3.4 5.3.2.22-24) and no UDH."""
    PAYLOAD = "payload"
    """One deliver_sm with the whole text in the message_payload TLV (5.3.2.32) and an empty
    short_message."""


def mo_parts(
    destination: str,
    source: str,
    text: str,
    split: MoSplit = MoSplit.AUTO,
    ref: int | None = None,
) -> list[DeliverSm]:
    """The deliver_sm PDUs (sequence_number 0) that carry ``text`` from the handset
    ``source`` to the ESME address ``destination``: GSM-7 (data_coding 0) when the text
    fits the default alphabet, else UCS-2 (data_coding 8), 5.2.19."""
    split = MoSplit(split)
    encoding = choose_encoding(text)
    data_coding = 0 if encoding == Encoding.GSM7 else 8
    numeric = source.lstrip("+").isdigit()
    base = DeliverSm(
        sequence_number=0,
        # 5.2.5 / 5.2.6: an international number (TON 1, NPI 1 ISDN) or alphanumeric (TON 5).
        source_addr_ton=1 if numeric else 5,
        source_addr_npi=1 if numeric else 0,
        source_addr=source.lstrip("+"),
        # The ESME's number in international format, as carriers deliver it.
        dest_addr_ton=1 if destination.lstrip("+").isdigit() else 0,
        dest_addr_npi=1 if destination.lstrip("+").isdigit() else 0,
        destination_addr=destination.lstrip("+"),
        data_coding=data_coding,
    )
    ref16 = split is MoSplit.UDH16 or split is MoSplit.SAR
    if ref is None:
        ref = random.randint(0, 0xFFFF if ref16 else 0xFF)
    if split is MoSplit.PAYLOAD:
        tlvs = NO_TLVS.with_bytes(Tag.MESSAGE_PAYLOAD, encode_short_message(text, data_coding))
        return [_with(base, b"", 0, tlvs)]
    seg = segment(text, encoding)
    if split is MoSplit.AUTO and seg.count == 1:
        data = encode_short_message(text, data_coding)
        if len(data) <= _MAX_SHORT_MESSAGE:
            return [_with(base, data, 0, NO_TLVS)]
    if split is MoSplit.SAR:
        total = seg.count
        return [
            _with(
                base,
                encode_short_message(part, data_coding),
                0,
                NO_TLVS.with_int(Tag.SAR_MSG_REF_NUM, ref, 2)
                .with_int(Tag.SAR_TOTAL_SEGMENTS, total, 1)
                .with_int(Tag.SAR_SEGMENT_SEQNUM, seq, 1),
            )
            for seq, part in enumerate(seg.parts, start=1)
        ]
    payloads = split_for_udh(text, ref=ref, encoding=encoding, ref16=split is MoSplit.UDH16)
    if len(payloads) == 1:  # fits one SMS: split_for_udh adds no UDH then
        return [_with(base, payloads[0], 0, NO_TLVS)]
    return [_with(base, payload, ESM_UDHI, NO_TLVS) for payload in payloads]


def _with(base: DeliverSm, short_message: bytes, esm_class: int, tlvs: Tlvs) -> DeliverSm:
    return DeliverSm(
        sequence_number=0,
        source_addr_ton=base.source_addr_ton,
        source_addr_npi=base.source_addr_npi,
        source_addr=base.source_addr,
        dest_addr_ton=base.dest_addr_ton,
        dest_addr_npi=base.dest_addr_npi,
        destination_addr=base.destination_addr,
        data_coding=base.data_coding,
        esm_class=esm_class,
        short_message=short_message,
        tlvs=tlvs,
    )


def as_data_sm(pdu: DeliverSm) -> DataSm:
    """The same message as a data_sm (SMPP 3.4 4.7.1): data_sm has no short_message, so its
    octets move into the message_payload TLV (5.3.2.32); the UDH, if any, stays at their
    head with esm_class 0x40 as in the deliver_sm. The fields data_sm lacks (protocol_id,
    priority_flag, the times, replace_if_present_flag, sm_default_msg_id) are dropped."""
    tlvs = pdu.tlvs
    if pdu.short_message:
        tlvs = tlvs.with_bytes(Tag.MESSAGE_PAYLOAD, pdu.short_message)
    return DataSm(
        sequence_number=pdu.sequence_number,
        service_type=pdu.service_type,
        source_addr_ton=pdu.source_addr_ton,
        source_addr_npi=pdu.source_addr_npi,
        source_addr=pdu.source_addr,
        dest_addr_ton=pdu.dest_addr_ton,
        dest_addr_npi=pdu.dest_addr_npi,
        destination_addr=pdu.destination_addr,
        esm_class=pdu.esm_class,
        registered_delivery=pdu.registered_delivery,
        data_coding=pdu.data_coding,
        tlvs=tlvs,
    )
