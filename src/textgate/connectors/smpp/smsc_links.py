"""The SMSC simulator's client links, and which of them its delivery receipts go to.

Each TCP connection is an :class:`SmscLink`: its session and what it bound as. A receipt
goes to the submitting link when it may receive, else to the newest open receiver bind of
the same system_id (SMPP 3.4 2.2: receipts go to a receiver or transceiver). With
``redeliver_receipts``, a receipt the ESME refused or never got is parked for its
system_id and offered again on its next receiver bind (or, after a pause, on one still
up), as SMSCs do: :class:`ReceiptRouter` keeps those.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import datetime

from textgate.connectors.smpp.pdus import (
    Bind,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    SubmitSm,
)
from textgate.connectors.smpp.session import Session
from textgate.connectors.smpp.smsc_messages import as_data_sm
from textgate.connectors.smpp.smsc_options import SmscOptions
from textgate.connectors.smpp.smsc_receipts import ReceiptPdu, ReceiptScheduler, build_receipt
from textgate.connectors.smpp.smsc_rules import Behaviour, DeliverAs

__all__ = ["ReceiptRouter", "SmscLink", "peer_name"]

# The simulator's logger: these lines are the simulator's, whichever of its parts writes them.
log = logging.getLogger("textgate.connectors.smpp.smsc")

_REDELIVERY_PAUSE = 0.5
"""Seconds before a refused receipt is offered again on a bind still up."""


def peer_name(writer: asyncio.StreamWriter) -> str:
    """``host:port`` of a client, for its session's name."""
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer or "?")


class SmscLink:
    """One client connection and its bind state."""

    __slots__ = ("bind_type", "scheduler", "session", "system_id")

    def __init__(self) -> None:
        self.session: Session | None = None
        self.bind_type: type[Bind] | None = None
        self.system_id = ""
        self.scheduler: ReceiptScheduler | None = None

    @property
    def open(self) -> bool:
        return self.session is not None and not self.session.closed

    @property
    def can_transmit(self) -> bool:
        return self.bind_type in (BindTransmitter, BindTransceiver)

    @property
    def can_receive(self) -> bool:
        return self.bind_type in (BindReceiver, BindTransceiver)


class ReceiptRouter:
    """Chooses the link for each receipt among ``links`` (the simulator's own list) and
    keeps the receipts to deliver again. ``on_answer`` hears each receipt's answer."""

    def __init__(
        self,
        links: list[SmscLink],
        options: SmscOptions,
        on_answer: Callable[[ReceiptPdu, int], None],
    ) -> None:
        self._links = links
        self._options = options
        self._on_answer = on_answer
        self._parked: dict[str, list[ReceiptPdu]] = {}
        self.redelivered = 0
        """Receipts offered again (``redeliver_receipts``)."""

    def attach(self, link: SmscLink, system_id: str) -> None:
        """``link`` bound as a receiver or transceiver of ``system_id``: give it a receipt
        scheduler, and the receipts parked for it."""
        if link.session is None:
            return
        keep = self._options.redeliver_receipts
        link.scheduler = ReceiptScheduler(
            link.session,
            self._options.window,
            self._on_answer,
            functools.partial(self._undelivered, system_id) if keep else None,
        )
        if keep:
            self._redeliver(system_id, link.scheduler)

    def send_receipts(
        self,
        link: SmscLink,
        pdu: SubmitSm,
        message_id: str,
        behaviour: Behaviour,
        *,
        now: float,
        due: float,
        submitted_at: datetime,
        done_at: datetime,
    ) -> None:
        """Schedule the receipts of a submit_sm accepted on ``link`` at ``now`` (loop time;
        ``submitted_at`` on the clock): an ENROUTE one at once if ``behaviour`` asks for
        it, then the final one at ``due`` (done at ``done_at``), as deliver_sm or data_sm
        (``receipts_as``). Dropped when no receiver is bound."""
        scheduler = self._scheduler(link)
        if scheduler is None:
            log.info("smsc: no receiver bound for %r: receipt dropped", link.system_id)
            return
        as_data = behaviour.receipts_as is DeliverAs.DATA_SM
        if behaviour.enroute_first:
            enroute = build_receipt(pdu, message_id, "ENROUTE", submitted_at, submitted_at)
            scheduler.schedule(now, as_data_sm(enroute) if as_data else enroute)
        receipt = build_receipt(
            pdu, message_id, behaviour.final_stat, submitted_at, done_at, behaviour.bad_receipt
        )
        scheduler.schedule(due, as_data_sm(receipt) if as_data else receipt)

    def _scheduler(self, link: SmscLink) -> ReceiptScheduler | None:
        """The submitting link when it may receive, else the newest open receiver bind of
        the same system_id (SMPP 3.4 2.2: receipts go to a receiver or transceiver)."""
        if link.scheduler is not None and link.open:
            return link.scheduler
        for other in reversed(self._links):
            if other.scheduler is not None and other.open and other.system_id == link.system_id:
                return other.scheduler
        return None

    def _undelivered(self, system_id: str, receipt: ReceiptPdu) -> None:
        """A receipt the ESME refused or never got: kept for its next receiver bind (and
        offered again on a bind still up, after a pause), as SMSCs do."""
        self._parked.setdefault(system_id, []).append(receipt)
        loop = asyncio.get_running_loop()
        loop.call_later(
            _REDELIVERY_PAUSE, lambda: self._redeliver(system_id, self._receiver(system_id))
        )

    def _receiver(self, system_id: str) -> ReceiptScheduler | None:
        for link in reversed(self._links):
            if link.scheduler is not None and link.open and link.system_id == system_id:
                return link.scheduler
        return None

    def _redeliver(self, system_id: str, scheduler: ReceiptScheduler | None) -> None:
        parked = self._parked.get(system_id)
        if scheduler is None or not parked:
            return
        self._parked[system_id] = []
        now = asyncio.get_running_loop().time()
        for receipt in parked:
            scheduler.schedule(now, receipt)
        self.redelivered += len(parked)
