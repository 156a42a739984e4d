"""What a submit_sm, data_sm or submit_multi asks for, read from the PDU into plain values.

- Addresses (5.2.5-5.2.9): destination_addr with type of number 1 (international) is a
  number without its ``+``, which is put back; any other type is read as written (a national
  number in the account's default country). source_addr is the sender ID; empty, the
  account's default sender. A submit_multi's destinations are its list's (``multi``).
- Text (5.2.19 data_coding, via ``shortmessage``): 0 the SMSC default alphabet (GSM 03.38),
  1 IA5 (ASCII), 3 Latin-1, 8 UCS-2. Binary and other codings carry no text: refused.
- The octets come from short_message, or from the message_payload TLV (5.3.2.32), which may
  carry a message of any length; a PDU with both is refused (5.2.21: sm_length is 0 when
  message_payload is used).
- A UDH (esm_class bit 6, 5.2.12) with a concatenation element (8- or 16-bit reference,
  3GPP TS 23.040 9.2.3.24.1 and .8) makes the PDU one part of a longer message.
- schedule_delivery_time (5.2.15, absolute or relative: ``times``) schedules the message;
  one that is no SMPP time is refused (ESME_RINVSCHED).
- validity_period (5.2.16, absolute or relative) is when the message expires if it could not
  be sent by then; a data_sm's qos_time_to_live TLV (5.3.2.17) says the same in seconds from
  now. One that is no SMPP time, or that ends before now or before the schedule, is refused
  (ESME_RINVEXPIRY, by the submit service's ``invalid_validity``). Empty: the gateway's own
  validity applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from textgate.connectors.smpp.constants import CommandStatus, PduError, Tag
from textgate.connectors.smpp.multi import SubmitMulti
from textgate.connectors.smpp.pdus import DataSm, SubmitSm
from textgate.connectors.smpp.shortmessage import Concat, decode_short_message
from textgate.connectors.smpp.times import parse_time
from textgate.core.encoding import Encoding
from textgate.core.message import ReceiptRequest
from textgate.smpp_server.errors import Refused

__all__ = [
    "DATA_CODING_UCS2",
    "RECEIPTS",
    "RECEIPT_MASK",
    "Submitted",
    "destination_of",
    "read_submit",
]

_S = CommandStatus

TON_INTERNATIONAL = 1  # 5.2.5
DATA_CODING_UCS2 = 8  # 5.2.19
# 5.2.17: bits 0-1 of registered_delivery ask for an SMSC delivery receipt: 01 of every
# final outcome, 10 of a failure only; 11 is reserved, read as 01 (a client that sets it
# wants receipts, and sending one more than asked for loses nothing).
RECEIPT_MASK = 0x03
RECEIPTS = {
    0: None,
    1: ReceiptRequest.ALWAYS,
    2: ReceiptRequest.ON_FAILURE,
    3: ReceiptRequest.ALWAYS,
}


@dataclass(frozen=True, slots=True)
class Submitted:
    """One submit_sm / data_sm: a whole message, or one part of one (``concat``)."""

    destination: str
    sender: str | None
    text: str
    encoding: Encoding | None
    """UCS-2 when the client chose it; None lets textgate pick (GSM-7 when the text fits)."""
    receipt: ReceiptRequest | None
    """registered_delivery: which final statuses the client wants a receipt of."""
    concat: Concat | None = None
    schedule_at: datetime | None = None
    valid_until: datetime | None = None


def destination_of(addr: str, ton: int) -> str:
    """The recipient a destination address names (TON 1: the number without its ``+``);
    raises :class:`Refused` for an empty one."""
    destination = addr.strip()
    if not destination:
        raise Refused(_S.ESME_RINVDSTADR, "destination_addr is empty")
    if ton == TON_INTERNATIONAL and not destination.startswith("+"):
        destination = "+" + destination
    return destination


def read_submit(pdu: SubmitSm | DataSm | SubmitMulti, now: datetime) -> Submitted:
    """The request in ``pdu`` (relative times from ``now``); raises :class:`Refused` with
    the status to answer. A submit_multi's ``destination`` is empty: it has a list."""
    schedule_at = valid_until = None
    if isinstance(pdu, SubmitSm | SubmitMulti):
        try:
            schedule_at = parse_time(pdu.schedule_delivery_time, now)
        except ValueError as exc:
            raise Refused(_S.ESME_RINVSCHED, str(exc)) from None
        try:
            valid_until = parse_time(pdu.validity_period, now)
        except ValueError as exc:
            raise Refused(_S.ESME_RINVEXPIRY, str(exc)) from None
        payload = pdu.tlvs.get(Tag.MESSAGE_PAYLOAD)
        if payload is not None and pdu.short_message:
            raise Refused(_S.ESME_RINVPARLEN, "short_message and message_payload are both set")
        octets = pdu.short_message if payload is None else payload
    else:
        payload = pdu.tlvs.get(Tag.MESSAGE_PAYLOAD)
        if payload is None:
            raise Refused(_S.ESME_RMISSINGOPTPARAM, "data_sm without message_payload")
        octets = payload
        valid_until = _time_to_live(pdu.tlvs.get(Tag.QOS_TIME_TO_LIVE), now)
    try:
        decoded = decode_short_message(octets, pdu.data_coding, pdu.esm_class)
    except PduError as exc:
        raise Refused(_S.ESME_RINVMSGLEN, exc.message) from None
    if decoded.text is None:
        raise Refused(_S.ESME_RSUBMITFAIL, f"data_coding 0x{pdu.data_coding:02X} carries no text")
    if isinstance(pdu, SubmitMulti):
        destination = ""
    else:
        destination = destination_of(pdu.destination_addr, pdu.dest_addr_ton)
    return Submitted(
        destination=destination,
        sender=pdu.source_addr.strip() or None,
        text=decoded.text,
        encoding=Encoding.UCS2 if pdu.data_coding == DATA_CODING_UCS2 else None,
        receipt=RECEIPTS[pdu.registered_delivery & RECEIPT_MASK],
        concat=decoded.concat,
        schedule_at=schedule_at,
        valid_until=valid_until,
    )


def _time_to_live(value: bytes | None, now: datetime) -> datetime | None:
    """qos_time_to_live (5.3.2.17): seconds from now, an Integer of 4 octets."""
    if value is None:
        return None
    if len(value) != 4:
        raise Refused(_S.ESME_RINVEXPIRY, f"qos_time_to_live of {len(value)} octets, not 4")
    return now + timedelta(seconds=int.from_bytes(value, "big"))
