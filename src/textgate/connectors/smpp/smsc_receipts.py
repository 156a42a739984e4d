"""Delivery receipts of the SMSC simulator: building them (SMPP 3.4 Appendix B text plus the
receipted_message_id and message_state TLVs), sending them when due (as deliver_sm, or
data_sm when a rule says so), and remembering each message's fate for query_sm (4.8)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from textgate.connectors.smpp.constants import CommandStatus, MessageState, PduError, Tag
from textgate.connectors.smpp.pdus import NO_TLVS, DataSm, DeliverSm, SubmitSm
from textgate.connectors.smpp.receipts import Receipt, format_receipt
from textgate.connectors.smpp.session import Session
from textgate.connectors.smpp.shortmessage import decode_short_message
from textgate.connectors.smpp.smsc_rules import FINAL_STATS, BadReceipt, Behaviour
from textgate.errors import ConnectorError

__all__ = ["MessageStore", "QueryAnswer", "ReceiptPdu", "ReceiptScheduler", "build_receipt"]

log = logging.getLogger(__name__)

_ESM_DELIVERY_RECEIPT: Final = 0x04  # 5.2.12: message type "SMSC delivery receipt"
_RECEIPT_TEXT_CHARS: Final = 20  # Appendix B: "the first 20 characters of the short message"
_OK_STATS: Final = frozenset({"DELIVRD", "ACCEPTD", "ENROUTE"})

_FOR_GOOD: Final = frozenset({CommandStatus.ESME_RX_P_APPN, CommandStatus.ESME_RX_R_APPN})
"""Refusals of a receipt that say not to deliver it again (SMPP 3.4 5.1.3)."""

ReceiptPdu = DeliverSm | DataSm
"""A receipt as sent: deliver_sm (4.6.1) or data_sm (4.7.1)."""


def _excerpt(submit: SubmitSm) -> str:
    """The first characters of the submitted text, printable ASCII only (other characters
    would make the receipt itself non-ASCII)."""
    data = submit.short_message or submit.tlvs.get(Tag.MESSAGE_PAYLOAD) or b""
    with contextlib.suppress(PduError, ValueError):
        text = decode_short_message(data, submit.data_coding, submit.esm_class).text or ""
        return "".join(c if " " <= c <= "~" else "?" for c in text[:_RECEIPT_TEXT_CHARS])
    return ""


def build_receipt(
    submit: SubmitSm,
    message_id: str,
    stat: str,
    submitted_at: datetime,
    done_at: datetime,
    bad: BadReceipt | None = None,
) -> DeliverSm:
    """The receipt deliver_sm for ``submit`` with Appendix B ``stat`` (ENROUTE or one of
    FINAL_STATS), from the handset back to the ESME's source address. ``bad`` spoils it."""
    ok = stat in _OK_STATS
    delivered = "001" if stat == "DELIVRD" else "000"
    err = "000" if ok else "001"
    sub_date, done_date = f"{submitted_at:%y%m%d%H%M}", f"{done_at:%y%m%d%H%M}"
    excerpt = _excerpt(submit)
    state = MessageState.ENROUTE if stat == "ENROUTE" else FINAL_STATS[stat]
    receipt_id = message_id
    tlvs = NO_TLVS
    if bad is None or bad is BadReceipt.UNKNOWN_ID:
        if bad is BadReceipt.UNKNOWN_ID:
            # Not hex, so no reading of it (decimal, hex) can name a real id.
            receipt_id = f"unknown-{message_id}"
        text = format_receipt(
            Receipt(
                message_id=receipt_id,
                stat=stat,
                submitted=1,
                delivered=int(delivered),
                submit_date=submitted_at,
                done_date=done_at,
                err=err,
                text=excerpt,
            )
        )
        data = text.encode("ascii", "replace")
        tlvs = NO_TLVS.with_str(Tag.RECEIPTED_MESSAGE_ID, receipt_id).with_int(
            Tag.MESSAGE_STATE, state, 1
        )
    elif bad is BadReceipt.GARBLED:
        data = f"RCPT/{message_id}/{stat.lower()}/{done_date}/%#!~".encode("ascii")
    elif bad is BadReceipt.NON_ASCII:
        half = len(message_id) // 2
        data = (
            f"id:{message_id[:half]}\xff\xfe{message_id[half:]} sub:001 dlvrd:{delivered} "
            f"submit date:{sub_date} done date:{done_date} stat:{stat[:1]}\xc9{stat[2:]} "
            f"err:{err} text:{excerpt}"
        ).encode("latin-1")
    else:  # MISSING_FIELDS
        data = (
            f"sub:001 dlvrd:{delivered} submit date:{sub_date} done date:{done_date} "
            f"err:{err} text:{excerpt}"
        ).encode("ascii", "replace")
    return DeliverSm(
        sequence_number=0,
        source_addr_ton=submit.dest_addr_ton,
        source_addr_npi=submit.dest_addr_npi,
        source_addr=submit.destination_addr,
        dest_addr_ton=submit.source_addr_ton,
        dest_addr_npi=submit.source_addr_npi,
        destination_addr=submit.source_addr,
        # An ENROUTE receipt too: 0x20 (intermediate notification) is read as an MO by many
        # ESMEs, textgate's connector included, so SMSCs send it as a receipt.
        esm_class=_ESM_DELIVERY_RECEIPT,
        short_message=data,
        tlvs=tlvs,
    )


@dataclass(frozen=True, slots=True)
class _Fate:
    final_due: float  # loop time at which the final state applies
    final_date: str  # 7.1.1 absolute time format, UTC
    state: MessageState
    error_code: int


@dataclass(frozen=True, slots=True)
class QueryAnswer:
    """What query_sm_resp reports (4.8.2): message_state (5.2.28), final_date ("" while the
    message is still ENROUTE), error_code (5.2.31)."""

    message_state: MessageState
    final_date: str
    error_code: int


class MessageStore:
    """The fate of the newest ``limit`` accepted messages, for query_sm."""

    __slots__ = ("_fates", "_limit", "_order")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._fates: dict[str, _Fate] = {}
        # Eviction order kept apart: popping the front of a dict leaves dead slots that slow
        # every later scan for its first key.
        self._order: deque[str] = deque()

    def remember(
        self, message_id: str, behaviour: Behaviour, due: float, done_at: datetime
    ) -> None:
        if self._limit <= 0:
            return
        stat = behaviour.final_stat
        self._fates[message_id] = _Fate(
            due,
            f"{done_at:%y%m%d%H%M%S}000+",  # 7.1.1: YYMMDDhhmmsstnnp, t=0, nn=00 (UTC), p=+
            behaviour.final_state,
            0 if stat in _OK_STATS else 1,
        )
        self._order.append(message_id)
        while len(self._order) > self._limit:
            self._fates.pop(self._order.popleft(), None)

    def query(self, message_id: str, now: float) -> QueryAnswer | None:
        fate = self._fates.get(message_id)
        if fate is None:
            return None
        if now < fate.final_due:
            return QueryAnswer(MessageState.ENROUTE, "", 0)
        return QueryAnswer(fate.state, fate.final_date, fate.error_code)


class ReceiptScheduler:
    """Sends the receipts of one session in due order.

    One timer task moves receipts that fell due from a heap to a ready queue, and ``workers``
    tasks (the session window) send them, so several are outstanding at once but no task
    exists per message. Receipts still waiting when the session closes are dropped.
    """

    def __init__(
        self,
        session: Session,
        workers: int,
        on_answer: Callable[[ReceiptPdu, int], None],
        on_undelivered: Callable[[ReceiptPdu], None] | None = None,
    ) -> None:
        self._session = session
        self._on_answer = on_answer
        self._on_undelivered = on_undelivered
        """Hears the receipts this session could not deliver (refused, or left when it
        closed), for an SMSC that delivers them again later."""
        self._loop = asyncio.get_running_loop()
        self._heap: list[tuple[float, int, ReceiptPdu]] = []
        self._ready: asyncio.Queue[ReceiptPdu] = asyncio.Queue()
        self._order = itertools.count()
        self._wake: asyncio.Future[None] | None = None
        self._tasks = [asyncio.ensure_future(self._timer())]
        self._tasks += [asyncio.ensure_future(self._worker()) for _ in range(workers)]

    @property
    def pending(self) -> int:
        """Receipts scheduled or queued and not yet sent."""
        return len(self._heap) + self._ready.qsize()

    def schedule(self, due: float, pdu: ReceiptPdu) -> None:
        """Send ``pdu`` at loop time ``due`` (at once if it is already due)."""
        if due <= self._loop.time() and not self._heap:
            self._ready.put_nowait(pdu)
            return
        # With receipts in the heap, a due one joins them: the timer may not have run since
        # earlier ones fell due (a busy loop), and going straight to the ready queue would
        # send it before them.
        heapq.heappush(self._heap, (due, next(self._order), pdu))
        wake = self._wake
        if self._heap[0][2] is pdu and wake is not None and not wake.done():
            wake.set_result(None)  # the timer sleeps until a later receipt: wake it earlier

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._on_undelivered is not None:
            while not self._ready.empty():
                self._on_undelivered(self._ready.get_nowait())
            for _, _, pdu in sorted(self._heap):
                self._on_undelivered(pdu)
        self._heap.clear()

    async def _timer(self) -> None:
        heap = self._heap
        while True:
            now = self._loop.time()
            while heap and heap[0][0] <= now:
                self._ready.put_nowait(heapq.heappop(heap)[2])
            wake: asyncio.Future[None] = self._loop.create_future()
            self._wake = wake
            handle = self._loop.call_at(heap[0][0], _resolve, wake) if heap else None
            try:
                await wake
            finally:
                self._wake = None
                if handle is not None:
                    handle.cancel()

    async def _worker(self) -> None:
        session = self._session
        while True:
            pdu = await self._ready.get()
            if session.closed:
                return
            try:
                resp = await session.request(pdu)
            except ConnectorError as exc:
                log.info("smsc: receipt not delivered: %s", exc.message)
                if self._on_undelivered is not None:
                    self._on_undelivered(pdu)
                continue
            if resp.command_status != CommandStatus.ESME_ROK:
                log.info("smsc: receipt answered 0x%08X", resp.command_status)
                # 5.1.3: only a temporary refusal asks for the receipt again.
                if self._on_undelivered is not None and resp.command_status not in _FOR_GOOD:
                    self._on_undelivered(pdu)
            self._on_answer(pdu, resp.command_status)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
