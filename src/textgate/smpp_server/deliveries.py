"""Receipts and inbound messages to the customers' receiver binds, as deliver_sm (SMPP 3.4
4.6).

The queue is in the database (``services.smpp_deliveries``, fed from committed events), so
a customer that is not bound loses nothing: its rows wait, without using attempts, until a
receiver or transceiver bind of its account is open in a serving process, which claims them
and spreads them over the account's binds there. A row is done only when the customer
answers deliver_sm_resp ESME_ROK. No answer within the response timeout, a bind that closes
first, or any other status sends it again later on the ``deliver`` retry schedule (it may
then reach the customer twice: delivery is at least once, as for webhooks); ESME_RX_P_APPN
and ESME_RX_R_APPN (5.1.3: the ESME refuses it for good) give it up. A claimed batch is
recorded once every row in it has its answer, so a customer that does not answer holds the
next batch back by at most the response timeout.

What is sent:

- A receipt (esm_class 0x04, 5.2.12): short_message is the Appendix B text, ``id`` the
  message id the submit_sm_resp gave (for a message of a submit_multi, the id its
  submit_multi_resp gave, kept as the message's client_ref: ``multi``);
  receipted_message_id (5.3.2.12) and message_state (5.3.2.35) TLVs carry the same. From
  the handset (the message's recipient) to the sender the customer submitted with. The
  text excerpt reads alike in ASCII and GSM 03.38 (``SAME_IN_ASCII_AND_GSM``).
- An inbound message (esm_class 0): from the handset to the number it was sent to, in GSM
  03.38 (data_coding 0) when the text fits, else UCS-2 (8); a text longer than one SMS goes
  whole in message_payload (5.3.2.32) rather than in parts.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from textgate.config import QueueSettings
from textgate.connectors.smpp.constants import CommandStatus, PduError, Tag
from textgate.connectors.smpp.pdus import NO_TLVS, DeliverSm
from textgate.connectors.smpp.receipts import STATUS_RECEIPT, Receipt, format_receipt
from textgate.connectors.smpp.session import Session
from textgate.connectors.smpp.shortmessage import encode_short_message
from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.encoding import Encoding, choose_encoding, segment
from textgate.core.message import Status
from textgate.errors import ConnectorError
from textgate.loops import LoopRegistry
from textgate.services.outbox import Pump, Retries
from textgate.services.smpp_deliveries import RECEIPT, DueDeliverSm, SmppDeliveryService

__all__ = ["DeliverSender", "inbound_pdu", "receipt_pdu"]

log = logging.getLogger(__name__)

ESM_DELIVERY_RECEIPT: Final = 0x04  # 5.2.12: message type "SMSC delivery receipt"
TON_UNKNOWN, TON_INTERNATIONAL, TON_ALPHANUMERIC = 0, 1, 5  # 5.2.5
NPI_UNKNOWN, NPI_E164 = 0, 1  # 5.2.6
DATA_CODING: Final = {Encoding.GSM7: 0, Encoding.UCS2: 8}  # 5.2.19
# The receipt goes as data_coding 0, the "SMSC default alphabet" (5.2.19): some ESMEs read
# it as ASCII, others (node-smpp among them) as GSM 03.38. Its text excerpt keeps the
# printable ASCII characters whose GSM 03.38 default table code (3GPP TS 23.038 6.2.1) is
# the same octet, so that it reads alike in both; @ $ _ ` [ \ ] ^ { | } ~ do not (@ is 0x00
# in GSM, where 0x40 is the inverted exclamation mark) and go as "?".
SAME_IN_ASCII_AND_GSM: Final = frozenset(
    " !\"#%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_FOR_GOOD: Final = frozenset({CommandStatus.ESME_RX_P_APPN, CommandStatus.ESME_RX_R_APPN})
"""deliver_sm_resp statuses that say not to send it again (5.1.3)."""

Receivers = Callable[[], Mapping[str, Sequence[Session]]]
"""The open receiver and transceiver binds of this process, by account id."""


def _address(value: str | None) -> tuple[int, int, str]:
    """TON, NPI and digits of an address: +E.164 international, other digits unknown,
    anything else an alphanumeric sender ID (5.2.5, 5.2.6)."""
    addr = value or ""
    if addr.startswith("+") and addr[1:].isdigit():
        return TON_INTERNATIONAL, NPI_E164, addr[1:]
    if addr.isdigit():
        return TON_UNKNOWN, NPI_E164, addr
    return (TON_ALPHANUMERIC, NPI_UNKNOWN, addr) if addr else (TON_UNKNOWN, NPI_UNKNOWN, "")


def _err(status: Status, error_code: str | None) -> str:
    """Appendix B ``err``: three digits; the network's code where textgate has a numeric
    one, else 000 for delivered and 001 for any failure."""
    if error_code is not None and error_code.isdigit() and len(error_code) <= 3:
        return error_code.zfill(3)
    return "000" if status == Status.DELIVERED else "001"


def receipt_pdu(p: Mapping[str, Any]) -> DeliverSm:
    """The receipt deliver_sm of a queued receipt's fields."""
    status = Status(p["status"])
    stat, state = STATUS_RECEIPT[status]
    message_id = p.get("client_ref") or p["message_id"]
    text = format_receipt(
        Receipt(
            message_id=message_id,
            stat=stat,
            submitted=1,
            delivered=1 if status == Status.DELIVERED else 0,
            submit_date=from_ms(p["submitted_at"]),
            done_date=from_ms(p["done_at"]),
            err=_err(status, p.get("error_code")),
            text="".join(c if c in SAME_IN_ASCII_AND_GSM else "?" for c in p.get("text") or ""),
        )
    )
    # A receipt comes from the handset the message went to (SMPP 3.4 Appendix B).
    return _deliver_sm(
        p.get("recipient"),
        p.get("sender"),
        esm_class=ESM_DELIVERY_RECEIPT,
        short_message=text.encode("ascii", "replace"),
        tlvs=NO_TLVS.with_str(Tag.RECEIPTED_MESSAGE_ID, message_id).with_int(
            Tag.MESSAGE_STATE, state, 1
        ),
    )


def inbound_pdu(p: Mapping[str, Any]) -> DeliverSm:
    """The deliver_sm of a queued inbound message's fields."""
    text = str(p["text"])
    encoding = choose_encoding(text)
    data_coding = DATA_CODING[encoding]
    octets = encode_short_message(text, data_coding)
    short_message, tlvs = octets, NO_TLVS
    if segment(text, encoding).count > 1:
        short_message, tlvs = b"", NO_TLVS.with_bytes(Tag.MESSAGE_PAYLOAD, octets)
    return _deliver_sm(
        p.get("from"),
        p.get("to"),
        data_coding=data_coding,
        short_message=short_message,
        tlvs=tlvs,
    )


def _deliver_sm(source: Any, destination: Any, **fields: Any) -> DeliverSm:
    """A deliver_sm from ``source`` to ``destination`` (stored addresses), with ``fields``."""
    src_ton, src_npi, src = _address(source)
    dst_ton, dst_npi, dst = _address(destination)
    return DeliverSm(
        sequence_number=0,
        source_addr_ton=src_ton,
        source_addr_npi=src_npi,
        source_addr=src,
        dest_addr_ton=dst_ton,
        dest_addr_npi=dst_npi,
        destination_addr=dst,
        **fields,
    )


class DeliverSender:
    """Claims the queue rows of the accounts bound here and sends them (one supervised
    loop, ``smpp-deliver``), and purges finished rows past their retention."""

    def __init__(
        self,
        service: SmppDeliveryService,
        settings: QueueSettings,
        receivers: Receivers,
        *,
        clock: Clock = system_clock,
        loops: LoopRegistry | None = None,
    ) -> None:
        self._service = service
        self._settings = settings
        self._receivers = receivers
        self._pump = Pump(settings.poll_seconds, loops)
        self._retries = Retries(settings, clock)
        self._turns = itertools.count()

    def start(self) -> None:
        self._pump.start({"smpp-deliver": self._send_once})

    async def stop(self) -> None:
        await self._pump.stop()

    async def _send_once(self) -> bool:
        s = self._settings
        cutoff = self._retries.purge_due()
        if cutoff is not None:
            await self._service.purge(cutoff)
        binds = {a: list(b) for a, b in self._receivers().items() if b}
        if not binds:
            return False
        due = await self._service.claim(
            binds, lease_ms=int(s.lease_seconds * 1000), limit=s.batch_size
        )
        if not due:
            return False
        results = await asyncio.gather(*(self._send(d, binds[d.account_id]) for d in due))
        await self._service.record(
            [
                self._retries.outcome(d.id, d.attempts, error, permanent=permanent)
                for d, (error, permanent) in zip(due, results, strict=True)
            ]
        )
        return True

    async def _send(self, row: DueDeliverSm, binds: Sequence[Session]) -> tuple[str | None, bool]:
        """None when the customer took it, else what went wrong and whether for good."""
        session = binds[next(self._turns) % len(binds)]
        try:
            pdu = receipt_pdu(row.payload) if row.kind == RECEIPT else inbound_pdu(row.payload)
        except (KeyError, ValueError) as exc:
            return f"cannot build deliver_sm: {exc!r}"[:300], True
        try:
            resp = await session.request(pdu)
        except PduError as exc:
            # A field the PDU cannot carry (an address past 20 characters): never will.
            return f"deliver_sm does not encode: {exc.message}"[:300], True
        except ConnectorError as exc:
            log.info("smpp server: deliver_sm to %s not answered: %s", session.name, exc.message)
            return exc.message, False
        status = resp.command_status
        if status == CommandStatus.ESME_ROK:
            return None, False
        log.info("smpp server: deliver_sm to %s answered 0x%08X", session.name, status)
        return f"deliver_sm answered 0x{status:08X}", status in _FOR_GOOD
