"""The dispatcher-facing SMPP connector: one transceiver bind to one SMSC (SMPP 3.4).

- **submit**: each :class:`Submission` becomes one or more submit_sm. The messages of a batch
  go out concurrently through the session window; the parts of one long message go out in
  order, one after the other, and stop at the first refusal (the message then fails with
  that part's error; parts already accepted cannot be recalled).
- **long messages** (``long_messages``): ``"udh"`` / ``"udh16"`` split the text with a
  concatenation UDH (8-bit resp. 16-bit reference, a fresh reference per message, esm_class
  0x40), one submit_sm per part. Only the **last** part asks for a delivery receipt
  (``registered_delivery``), and the outcome's ``external_id`` is the last part's message
  id, so the receipt that comes back matches the message without any part-id bookkeeping.
  ``"payload"`` sends one submit_sm with the whole text in the message_payload TLV (5.3.2.32).
- **receipts**: a deliver_sm that is a delivery receipt (esm_class bits 2-5 = 0001, 5.2.12, or
  a short_message that parses as an Appendix B receipt) becomes a :class:`DeliveryReport`
  handed to the sink *before* deliver_sm_resp is sent, so only stored reports are
  acknowledged; if the sink fails the SMSC gets ESME_RX_T_APPN and will deliver it again.
- **link**: if the session closes unexpectedly a background task rebinds with exponential
  backoff (``reconnect_initial`` doubling up to ``reconnect_max``); while unbound, ``submit``
  raises a retryable ConnectorError.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from textgate.connectors.base import InboundSink, Outcome, ReportSink, Submission
from textgate.connectors.smpp.client import bind
from textgate.connectors.smpp.constants import CommandId, CommandStatus, PduError, Tag
from textgate.connectors.smpp.pdus import (
    NO_TLVS,
    DeliverSm,
    DeliverSmResp,
    GenericNack,
    Pdu,
    SubmitSm,
    SubmitSmResp,
)
from textgate.connectors.smpp.receipts import (
    Receipt,
    message_state_to_status,
    parse_receipt,
    stat_to_status,
)
from textgate.connectors.smpp.session import Session
from textgate.connectors.smpp.shortmessage import (
    ESM_UDHI,
    decode_short_message,
    encode_short_message,
)
from textgate.connectors.smpp.status import to_connector_error
from textgate.connectors.smpp.tlv import Tlvs
from textgate.core.encoding import Encoding, choose_encoding, segment, split_for_udh
from textgate.core.message import DeliveryReport
from textgate.errors import ConnectorError, GatewayError

__all__ = ["SmppConnector", "SmppOptions"]

log = logging.getLogger(__name__)

_LONG_MODES: Final = ("udh", "udh16", "payload")
_ESM_TYPE_MASK: Final = 0x3C  # 5.2.12 bits 5-2: message type
_ESM_DELIVERY_RECEIPT: Final = 0x04  # bits 5-2 = 0001: SMSC delivery receipt
_DATA_CODING: Final = {Encoding.GSM7: 0, Encoding.UCS2: 8}
_RECENT_IDS: Final = 100_000  # submitted ids remembered to match receipt id spellings


@dataclass(frozen=True, slots=True)
class SmppOptions:
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    window: int = 50
    """Most submit_sm outstanding at once on the link."""
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    alphanumeric_ton: int = 5
    """Source TON/NPI for an alphanumeric sender (5 = alphanumeric, 0 = unknown)."""
    alphanumeric_npi: int = 0
    numeric_ton: int = 1
    """Source TON/NPI for a numeric sender, '+' stripped (1 = international, 1 = E.164)."""
    numeric_npi: int = 1
    dest_ton: int = 1
    dest_npi: int = 1
    long_messages: str = "udh"
    """"udh" (8-bit reference), "udh16" (16-bit reference) or "payload" (message_payload)."""
    registered_delivery: int = 1
    connect_timeout: float = 10.0
    unbind_timeout: float = 2.0
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0

    def __post_init__(self) -> None:
        if self.long_messages not in _LONG_MODES:
            raise ValueError(
                f"long_messages must be one of {', '.join(_LONG_MODES)}, got {self.long_messages!r}"
            )
        if self.window < 1:
            raise ValueError("window must be at least 1")

    @classmethod
    def from_mapping(cls, options: dict[str, Any]) -> SmppOptions:
        known = {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        unknown = set(options) - set(known)
        if unknown:
            raise ValueError(f"unknown smpp options: {', '.join(sorted(unknown))}")
        return cls(**known)


class SmppConnector:
    """Connector protocol over one SMPP transceiver bind."""

    def __init__(self, name: str, options: SmppOptions) -> None:
        self.name = name
        self.options = options
        self._sink: ReportSink | None = None
        self._session: Session | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._bound = asyncio.Event()
        # Concatenation references: one per long message, from a random start.
        self._ref_space = 0x10000 if options.long_messages == "udh16" else 0x100
        self._next_ref = random.randrange(self._ref_space)
        self._recent_ids: OrderedDict[str, None] = OrderedDict()

    # ------------------------------------------------------------------ lifecycle

    @property
    def bound(self) -> bool:
        return self._session is not None and not self._session.closed

    async def wait_bound(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the link is bound (for tests and health checks)."""
        await asyncio.wait_for(self._bound.wait(), timeout)

    async def start(self, sink: ReportSink, inbound: InboundSink | None = None) -> None:
        """Bind once now; a retryable failure is logged and retried in the background, a
        refusal of the credentials (not retryable) is raised."""
        self._sink = sink
        self._stopping = False
        try:
            await self._bind()
        except ConnectorError as exc:
            if not exc.retryable:
                raise
            log.warning("smpp %s: bind failed, will retry: %s", self.name, exc.message)
        self._supervisor = asyncio.create_task(self._supervise(), name=f"smpp-{self.name}")

    async def stop(self) -> None:
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        session, self._session = self._session, None
        self._bound.clear()
        if session is not None:
            await session.unbind(timeout=self.options.unbind_timeout)

    async def _bind(self) -> None:
        opts = self.options
        session = await bind(
            opts.host,
            opts.port,
            system_id=opts.system_id,
            password=opts.password,
            mode="transceiver",
            system_type=opts.system_type,
            window=opts.window,
            response_timeout=opts.response_timeout,
            enquire_link_interval=opts.enquire_link_interval or None,
            handler=self._on_request,
            connect_timeout=opts.connect_timeout,
        )
        if self._stopping:
            await session.unbind(timeout=opts.unbind_timeout)
            return
        self._session = session
        self._bound.set()
        log.info("smpp %s: bound to %s:%d", self.name, opts.host, opts.port)

    async def _supervise(self) -> None:
        """Keep the link bound: wait for the session to close, then rebind with backoff."""
        delay = self.options.reconnect_initial
        while not self._stopping:
            session = self._session
            if session is not None:
                await session.wait_closed()
                self._bound.clear()
                if self._session is session:
                    self._session = None
                log.warning("smpp %s: link lost, rebinding", self.name)
                delay = self.options.reconnect_initial
            await asyncio.sleep(delay)
            try:
                await self._bind()
            except ConnectorError as exc:
                log.warning(
                    "smpp %s: rebind failed (next try in %.1f s): %s",
                    self.name,
                    min(delay * 2, self.options.reconnect_max),
                    exc.message,
                )
                delay = min(delay * 2, self.options.reconnect_max)

    # ------------------------------------------------------------------ submit

    async def submit(self, batch: Sequence[Submission]) -> list[Outcome]:
        session = self._session
        if session is None or session.closed:
            raise ConnectorError(
                f"smpp {self.name}: not bound", retryable=True, code="smpp_not_bound"
            )
        return list(await asyncio.gather(*(self._submit_one(session, sub) for sub in batch)))

    async def _submit_one(self, session: Session, sub: Submission) -> Outcome:
        try:
            pdus = self._build(sub)
        except (GatewayError, ValueError) as exc:
            message = exc.message if isinstance(exc, GatewayError) else str(exc)
            return Outcome(
                sub.message_id,
                error=ConnectorError(message, retryable=False, code="smpp_invalid_message"),
            )
        message_id = ""
        for pdu in pdus:
            try:
                resp = await session.request(pdu)
            except ConnectorError as exc:
                return Outcome(sub.message_id, error=exc)
            except PduError as exc:  # the PDU does not encode (e.g. an address too long)
                return Outcome(
                    sub.message_id,
                    error=ConnectorError(exc.message, retryable=False, code="smpp_invalid_pdu"),
                )
            if resp.command_status != CommandStatus.ESME_ROK:
                return Outcome(sub.message_id, error=to_connector_error(resp.command_status))
            if not isinstance(resp, SubmitSmResp):
                return Outcome(
                    sub.message_id,
                    error=ConnectorError(
                        f"smpp {self.name}: unexpected {resp.command_id.name.lower()}",
                        retryable=True,
                        code="smpp_protocol_error",
                    ),
                )
            message_id = resp.message_id
        self._remember(message_id)
        return Outcome(sub.message_id, external_id=message_id)

    def _build(self, sub: Submission) -> list[SubmitSm]:
        """The submit_sm PDUs of one message, in order (see the module docstring)."""
        opts = self.options
        try:
            encoding = Encoding(sub.encoding)
        except ValueError:
            encoding = choose_encoding(sub.text)
        data_coding = _DATA_CODING[encoding]
        sender = (sub.sender or "").strip()
        if not sender:
            src_ton, src_npi, src = 0, 0, ""
        elif sender.lstrip("+").isdigit():
            src_ton, src_npi, src = opts.numeric_ton, opts.numeric_npi, sender.lstrip("+")
        else:
            src_ton, src_npi, src = opts.alphanumeric_ton, opts.alphanumeric_npi, sender

        def pdu(
            short_message: bytes, esm_class: int, registered: int, tlvs: Tlvs = NO_TLVS
        ) -> SubmitSm:
            return SubmitSm(
                sequence_number=0,
                source_addr_ton=src_ton,
                source_addr_npi=src_npi,
                source_addr=src,
                dest_addr_ton=opts.dest_ton,
                dest_addr_npi=opts.dest_npi,
                destination_addr=sub.recipient.lstrip("+"),
                esm_class=esm_class,
                registered_delivery=registered,
                data_coding=data_coding,
                short_message=short_message,
                tlvs=tlvs,
            )

        if opts.long_messages == "payload":
            if segment(sub.text, encoding).count == 1:
                return [
                    pdu(encode_short_message(sub.text, data_coding), 0, opts.registered_delivery)
                ]
            payload = encode_short_message(sub.text, data_coding)
            tlvs = NO_TLVS.with_bytes(Tag.MESSAGE_PAYLOAD, payload)
            return [pdu(b"", 0, opts.registered_delivery, tlvs)]
        ref, self._next_ref = self._next_ref, (self._next_ref + 1) % self._ref_space
        parts = split_for_udh(
            sub.text, ref=ref, encoding=encoding, ref16=opts.long_messages == "udh16"
        )
        if len(parts) == 1:
            return [pdu(parts[0], 0, opts.registered_delivery)]
        last = len(parts) - 1
        return [
            pdu(part, ESM_UDHI, opts.registered_delivery if i == last else 0)
            for i, part in enumerate(parts)
        ]

    def _remember(self, external_id: str) -> None:
        self._recent_ids[external_id] = None
        self._recent_ids.move_to_end(external_id)
        while len(self._recent_ids) > _RECENT_IDS:
            self._recent_ids.popitem(last=False)

    # ------------------------------------------------------------------ inbound

    async def _on_request(self, pdu: Pdu) -> Pdu | None:
        if isinstance(pdu, DeliverSm):
            status = await self._on_deliver(pdu)
            return DeliverSmResp(sequence_number=pdu.sequence_number, command_status=status)
        if pdu.command_id == CommandId.ALERT_NOTIFICATION:
            return None  # 4.12.1: alert_notification has no response
        # Nothing else is expected from an SMSC on a transceiver bind.
        return GenericNack(
            sequence_number=pdu.sequence_number, command_status=CommandStatus.ESME_RINVCMDID
        )

    async def _on_deliver(self, pdu: DeliverSm) -> int:
        """Handle one deliver_sm; returns the command_status of deliver_sm_resp."""
        data = pdu.short_message or pdu.tlvs.get(Tag.MESSAGE_PAYLOAD) or b""
        try:
            text = decode_short_message(data, pdu.data_coding, pdu.esm_class).text or ""
        except PduError as exc:
            log.warning("smpp %s: undecodable deliver_sm: %s", self.name, exc.message)
            return CommandStatus.ESME_ROK  # redelivery would not decode either
        flagged = pdu.esm_class & _ESM_TYPE_MASK == _ESM_DELIVERY_RECEIPT
        receipt = parse_receipt(text) if flagged or "stat" in text.lower() else None
        if not flagged and receipt is None:
            # A mobile-originated message. Inbound storage is not built yet: acknowledge and
            # log it. (When it is, this must hand it to the sink before answering, like
            # receipts below.)
            log.info(
                "smpp %s: MO from %s dropped (no inbound sink yet)", self.name, pdu.source_addr
            )
            return CommandStatus.ESME_ROK
        report = self._report(pdu, receipt)
        if report is None:
            log.warning("smpp %s: unusable delivery receipt: %r", self.name, text)
            return CommandStatus.ESME_ROK
        sink = self._sink
        if sink is None:
            return CommandStatus.ESME_RX_T_APPN
        try:
            await sink([report])
        except Exception:
            log.exception("smpp %s: report sink failed; asking the SMSC to retry", self.name)
            return CommandStatus.ESME_RX_T_APPN
        return CommandStatus.ESME_ROK

    def _report(self, pdu: DeliverSm, receipt: Receipt | None) -> DeliveryReport | None:
        """A report from a receipt's TLVs (receipted_message_id, message_state, 5.3.2) or
        its Appendix B text; None when it names no message or says nothing (UNKNOWN)."""
        external_id = pdu.tlvs.get_str(Tag.RECEIPTED_MESSAGE_ID)
        candidates: tuple[str, ...] = (external_id,) if external_id else ()
        if receipt is not None:
            candidates += receipt.id_candidates()
        if not candidates:
            return None
        external_id = next((c for c in candidates if c in self._recent_ids), candidates[0])
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
