"""What the SMSC sends us: deliver_sm (SMPP 3.4 4.6.1) or data_sm (4.7.1) carrying a
delivery receipt or a mobile-originated message, answered with deliver_sm_resp (4.6.2)
resp. data_sm_resp (4.7.2) only once handled. The two are handled alike; data_sm has no
short_message, so its text always travels in the message_payload TLV (5.3.2.32).

- **Receipts** (esm_class message type 0001 "SMSC delivery receipt" or 1000 "intermediate
  delivery notification", 5.2.12; or a default-type message carrying both the
  receipted_message_id and message_state TLVs, 5.3.2.12 / 5.3.2.35, which exist only in
  receipts; or a default-type text that parses as an Appendix B receipt, for SMSCs that
  forget the flag) become a :class:`DeliveryReport` for the report sink.
- **Mobile-originated** messages (message type 0000) become an :class:`InboundMessage` for
  the inbound sink. One part of a concatenated message stays one part: its
  :class:`Concatenation` comes from the UDH (IE 0x00 or 0x08) or the sar_* TLVs, and the
  inbound store reassembles the parts durably.
- Other message types (SME delivery / manual acknowledgement, conversation abort) carry
  nothing for us; they are acknowledged and logged.

command_status of the response (5.1.3):

- ESME_ROK once the sink has returned (the sinks store before they return);
- ESME_RX_T_APPN (0x64, temporary) when there is no sink or it raised: the SMSC keeps the
  message and delivers it again later;
- ESME_RX_R_APPN (0x66, reject) for an MO in a binary data_coding (2, 4, 0xF4-0xF7) or one
  we cannot read as text: a text gateway has nothing to hand on, and a hex dump would only
  reach users as noise. A rejection tells the SMSC not to try again;
- ESME_RX_P_APPN (0x65, permanent) for an MO that does not decode at all (a UDH running
  past the data): redelivery would fail the same way, so it is logged and refused for good.

A character cut at a part boundary by a sender that splits by octets is kept in halves for
the store to pair up when it joins the parts: a part ending in a lone GSM-7 escape keeps
U+001B at its end, and a UTF-16 surrogate pair cut in two stays as lone surrogates.

A receipt that does not decode or names no message is acknowledged (ESME_ROK) and logged,
as before: redelivering it cannot help.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from textgate.connectors.base import Concatenation, InboundMessage, InboundSink, ReportSink
from textgate.connectors.smpp.constants import CommandId, CommandStatus, MessageState, PduError, Tag
from textgate.connectors.smpp.pdus import (
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    GenericNack,
    Pdu,
)
from textgate.connectors.smpp.receipts import (
    Receipt,
    message_state_to_status,
    parse_receipt,
    stat_to_status,
)
from textgate.connectors.smpp.shortmessage import concat_from_tlvs, decode_short_message
from textgate.core.encoding import decode_gsm7
from textgate.core.message import DeliveryReport, Status

__all__ = ["DeliverHandler", "format_address", "part_text"]

log = logging.getLogger(__name__)

_S = CommandStatus
DeliverLike = DeliverSm | DataSm
"""The two requests that bring a receipt or an MO from the SMSC (4.6.1, 4.7.1)."""
# 5.2.12 esm_class bits 5-2 of a deliver_sm / data_sm: the message type.
_ESM_TYPE_MASK: Final = 0x3C
_ESM_DEFAULT: Final = 0x00
_ESM_RECEIPT_TYPES: Final = frozenset({0x04, 0x20})  # SMSC receipt, intermediate notification
# 5.2.19 data_coding 0 is "SMSC default alphabet"; the SMSC's choice, as configured, is read
# with the data_coding of that alphabet (1 = IA5/ASCII, 3 = Latin-1).
_DEFAULT_ALPHABET_CODING: Final = {"gsm7": 0, "ascii": 1, "latin1": 3}
_TON_INTERNATIONAL: Final = 1  # 5.2.5
_UCS2: Final = 8  # 5.2.19
_GSM_ESC: Final = 0x1B  # 23.038 6.2.1.1: escape to the extension table


def _content(pdu: DeliverLike) -> bytes:
    """The message octets: short_message, else the message_payload TLV (5.3.2.32), which is
    where a data_sm (4.7.1: no short_message field) always carries them."""
    short = pdu.short_message if isinstance(pdu, DeliverSm) else b""
    return short or pdu.tlvs.get(Tag.MESSAGE_PAYLOAD) or b""


def _is_receipt(pdu: DeliverLike) -> bool:
    """A receipt by its esm_class message type (5.2.12), or a default-type message with
    both receipt TLVs (receipted_message_id 5.3.2.12, message_state 5.3.2.35)."""
    kind = pdu.esm_class & _ESM_TYPE_MASK
    if kind in _ESM_RECEIPT_TYPES:
        return True
    tlvs = pdu.tlvs
    return kind == _ESM_DEFAULT and Tag.RECEIPTED_MESSAGE_ID in tlvs and Tag.MESSAGE_STATE in tlvs


def _response(pdu: DeliverLike, status: int) -> DeliverSmResp | DataSmResp:
    """deliver_sm_resp (4.6.2) or data_sm_resp (4.7.2); message_id stays NULL, as the ESME
    names no message of its own."""
    cls = DeliverSmResp if isinstance(pdu, DeliverSm) else DataSmResp
    return cls(sequence_number=pdu.sequence_number, command_status=status)


def _is_gsm(coding: int) -> bool:
    """5.2.19 data_coding 0 (read as GSM-7) or 23.038's 0xF0-0xF3 (GSM-7 with a class)."""
    return coding == 0 or 0xF0 <= coding <= 0xF3


def part_text(payload: bytes, coding: int, text: str) -> str:
    """The text of one part of a concatenated message, keeping a cut character's halves
    (see the module docstring); ``text`` is the ordinary decoding."""
    if coding == _UCS2:
        even = len(payload) - len(payload) % 2
        tail = "\ufffd" if even < len(payload) else ""
        return payload[:even].decode("utf-16-be", "surrogatepass") + tail
    if _is_gsm(coding) and payload.isascii() and payload.endswith(bytes((_GSM_ESC,))):
        escapes = len(payload) - len(payload.rstrip(bytes((_GSM_ESC,))))
        if escapes % 2:  # an odd run: the last ESC lost the septet it escapes
            return decode_gsm7(payload[:-1]) + chr(_GSM_ESC)
    return text


def format_address(addr: str, ton: int) -> str:
    """E.164 with '+' for a numeric address of TON 1 (international); else as received."""
    if addr.isdigit() and ton == _TON_INTERNATIONAL:
        return f"+{addr}"
    return addr


class DeliverHandler:
    """The session request handler shared by every bind of one connector."""

    def __init__(self, name: str, default_alphabet: str, known: Callable[[str], bool]) -> None:
        self.name = name
        self.reports: ReportSink | None = None
        self.inbound: InboundSink | None = None
        self._zero_coding = _DEFAULT_ALPHABET_CODING[default_alphabet]
        self._known = known

    def answer_now(self, pdu: Pdu) -> asyncio.Future[Pdu | None] | None:
        """The commonest request, a delivered receipt named by its TLVs, answered without a
        coroutine: the answer is chained to the report sink's future (see Session's
        Handler). None for everything else, which goes to :meth:`__call__`."""
        if not isinstance(pdu, DeliverSm | DataSm) or not _is_receipt(pdu):
            return None
        sink = self.reports
        report = self._delivered_by_tlvs(pdu) if sink is not None else None
        if sink is None or report is None:
            return None
        stored = sink([report])
        if not isinstance(stored, asyncio.Future):
            stored = asyncio.ensure_future(stored)
        answer: asyncio.Future[Pdu | None] = asyncio.get_running_loop().create_future()
        stored.add_done_callback(functools.partial(self._stored, answer, pdu))
        return answer

    def _stored(
        self, answer: asyncio.Future[Pdu | None], pdu: DeliverLike, stored: asyncio.Future[None]
    ) -> None:
        status = _S.ESME_ROK
        if stored.cancelled() or stored.exception() is not None:
            exc = None if stored.cancelled() else stored.exception()
            log.error("smpp %s: report sink failed (%r); asking the SMSC to retry", self.name, exc)
            status = _S.ESME_RX_T_APPN
        if not answer.done():
            answer.set_result(_response(pdu, status))

    async def __call__(self, pdu: Pdu) -> Pdu | None:
        if isinstance(pdu, DeliverSm | DataSm):
            return _response(pdu, await self._on_deliver(pdu))
        if pdu.command_id == CommandId.ALERT_NOTIFICATION:
            return None  # 4.12.1: alert_notification has no response
        # Nothing else is expected from an SMSC on a transceiver bind.
        return GenericNack(sequence_number=pdu.sequence_number, command_status=_S.ESME_RINVCMDID)

    async def _on_deliver(self, pdu: DeliverLike) -> int:
        """Handle one deliver_sm / data_sm; returns the command_status of its response."""
        if _is_receipt(pdu):
            return await self._on_receipt(pdu)
        if pdu.esm_class & _ESM_TYPE_MASK != _ESM_DEFAULT:
            log.info(
                "smpp %s: %s of esm_class 0x%02X ignored",
                self.name,
                pdu.command_id.name.lower(),
                pdu.esm_class,
            )
            return _S.ESME_ROK
        data = _content(pdu)
        coding = self._zero_coding if pdu.data_coding == 0 else pdu.data_coding
        try:
            decoded = decode_short_message(data, coding, pdu.esm_class)
        except PduError as exc:
            log.warning(
                "smpp %s: undecodable MO from %s refused: %s",
                self.name,
                pdu.source_addr,
                exc.message,
            )
            return _S.ESME_RX_P_APPN
        text = decoded.text
        if text is None:
            log.warning(
                "smpp %s: MO from %s in binary data_coding 0x%02X refused",
                self.name,
                pdu.source_addr,
                pdu.data_coding,
            )
            return _S.ESME_RX_R_APPN
        if decoded.concat is None and "stat" in text.lower():
            # A receipt without the esm_class flag (some SMSCs), told apart by its text.
            receipt = parse_receipt(text)
            report = self._report(pdu, receipt) if receipt is not None else None
            if report is not None:
                return await self._hand_report(report)
        concat = decoded.concat or concat_from_tlvs(pdu.tlvs)
        if concat is not None:
            text = part_text(decoded.payload, coding, text)
        message = InboundMessage(
            connector=self.name,
            sender=format_address(pdu.source_addr, pdu.source_addr_ton),
            recipient=format_address(pdu.destination_addr, pdu.dest_addr_ton),
            text=text,
            received_at=datetime.now(UTC),
            part=None if concat is None else Concatenation(concat.ref, concat.total, concat.seq),
        )
        sink = self.inbound
        if sink is None:
            log.warning("smpp %s: no inbound sink; MO left with the SMSC", self.name)
            return _S.ESME_RX_T_APPN
        try:
            await sink([message])
        except Exception:
            log.exception("smpp %s: inbound sink failed; asking the SMSC to retry", self.name)
            return _S.ESME_RX_T_APPN
        return _S.ESME_ROK

    async def _on_receipt(self, pdu: DeliverLike) -> int:
        data = _content(pdu)
        try:
            text = decode_short_message(data, pdu.data_coding, pdu.esm_class).text or ""
        except PduError as exc:
            log.warning("smpp %s: undecodable receipt: %s", self.name, exc.message)
            return _S.ESME_ROK  # redelivery would not decode either
        report = self._report(pdu, parse_receipt(text))
        if report is None:
            log.warning("smpp %s: unusable delivery receipt: %r", self.name, text)
            return _S.ESME_ROK
        return await self._hand_report(report)

    def _delivered_by_tlvs(self, pdu: DeliverLike) -> DeliveryReport | None:
        """The report of the commonest receipt without reading its text: the TLVs name a
        message we submitted (receipted_message_id, 5.3.2.12) and say it was delivered
        (message_state 2, 5.3.2.35), so the text could add no error code. Anything else
        goes through the full parse."""
        tlvs = pdu.tlvs
        if tlvs.get_int(Tag.MESSAGE_STATE) != MessageState.DELIVERED:
            return None
        external_id = tlvs.get_str(Tag.RECEIPTED_MESSAGE_ID)
        if not external_id or not self._known(external_id):
            return None
        return DeliveryReport(
            connector=self.name,
            external_id=external_id,
            status=Status.DELIVERED,
            at=datetime.now(UTC),
        )

    async def _hand_report(self, report: DeliveryReport) -> int:
        sink = self.reports
        if sink is None:
            return _S.ESME_RX_T_APPN
        try:
            await sink([report])
        except Exception:
            log.exception("smpp %s: report sink failed; asking the SMSC to retry", self.name)
            return _S.ESME_RX_T_APPN
        return _S.ESME_ROK

    def _report(self, pdu: DeliverLike, receipt: Receipt | None) -> DeliveryReport | None:
        """A report from a receipt's TLVs (receipted_message_id, message_state, 5.3.2) or
        its Appendix B text; None when it names no message or says nothing (UNKNOWN)."""
        external_id = pdu.tlvs.get_str(Tag.RECEIPTED_MESSAGE_ID)
        candidates: tuple[str, ...] = (external_id,) if external_id else ()
        if receipt is not None:
            candidates += receipt.id_candidates()
        if not candidates:
            return None
        external_id = next((c for c in candidates if self._known(c)), candidates[0])
        state = pdu.tlvs.get_int(Tag.MESSAGE_STATE)
        status = message_state_to_status(state) if state is not None else None
        if status is None and receipt is not None:
            status = stat_to_status(receipt.stat)
        if status is None:
            return None
        err = receipt.err if receipt is not None else None
        return DeliveryReport(
            connector=self.name,
            external_id=external_id,
            status=status,
            at=(receipt.done_date if receipt is not None else None) or datetime.now(UTC),
            error_code=err if err and err.strip("0") else None,
        )
