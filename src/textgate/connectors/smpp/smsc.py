"""An SMSC simulator (SMPP 3.4 server) for development, tests and benchmarks.

It runs one :class:`Session` per TCP connection, with a handler that:

- authenticates bind_transmitter / bind_receiver / bind_transceiver against ``accounts``
  (ESME_RINVSYSID for an unknown system_id, ESME_RINVPASWD for a wrong password,
  ESME_RALYBND for a second bind on the same link); every other request before a successful
  bind is answered ESME_RINVBNDSTS, as are submit_sm and query_sm on a receiver bind;
  ``refuse_binds`` / ``refuse_binds_for_ms`` refuse the first binds after start whatever
  the credentials (:class:`BindRefusal`), to test an ESME that must bind again later;
- answers submit_sm as the behaviour for its destination says (:mod:`smsc_rules`: global
  options, overridden per destination prefix): accept with a message id unique across
  restarts, refuse with a command_status, answer late, never answer or drop the connection;
  every ``throttle_every``-th submit_sm is answered ESME_RTHROTTLED whatever the rules say;
- when registered_delivery asks for it (5.2.17), sends delivery receipts (deliver_sm,
  esm_class 0x04, Appendix B text, receipted_message_id and message_state TLVs 5.3.2.12,
  5.3.2.35; or the same as a data_sm, 4.7.1, the text in message_payload, when
  ``receipts_as`` says so) to the submitting session, or for a transmitter bind to a
  receiver bind of the same system_id; an optional ENROUTE receipt first, then the final one after
  ``receipt_delay_ms``, or an unusable one (``bad_receipt``); a message whose
  validity_period (5.2.16) ends sooner is given up then, its receipt EXPIRED;
- answers query_sm (4.8) with the message's state: ENROUTE until its final receipt was due,
  then the final state and final_date; ESME_RQUERYFAIL for an id of this run it no longer
  remembers, ESME_RINVMSGID for an id it never issued.

enquire_link and unbind are answered by the Session itself. :meth:`Smsc.send_mo` originates
a mobile-originated message to a bound receiver or transceiver, as deliver_sm or data_sm.
``smsc_policy`` chooses the answer to a submit_sm; ``smsc_links`` routes receipts.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from textgate.connectors.smpp.constants import CommandStatus
from textgate.connectors.smpp.pdus import (
    BIND_RESPONSE,
    Bind,
    BindResp,
    GenericNack,
    Pdu,
    QuerySm,
    QuerySmResp,
    SubmitSm,
    SubmitSmResp,
)
from textgate.connectors.smpp.session import Session
from textgate.connectors.smpp.smsc_links import ReceiptRouter, SmscLink, peer_name
from textgate.connectors.smpp.smsc_messages import (
    MoSplit,
    Received,
    as_data_sm,
    mo_parts,
    reassemble,
    record_of,
)
from textgate.connectors.smpp.smsc_options import SmscOptions
from textgate.connectors.smpp.smsc_policy import SubmitPolicy
from textgate.connectors.smpp.smsc_receipts import MessageStore, ReceiptPdu
from textgate.connectors.smpp.smsc_rules import (
    FINAL_STATS,
    BadReceipt,
    Behaviour,
    DeliverAs,
    SmscRule,
    SubmitAction,
    within_validity,
)
from textgate.connectors.smpp.status import status_name
from textgate.errors import ConnectorError

__all__ = [
    "FINAL_STATS",
    "BadReceipt",
    "DeliverAs",
    "MoSplit",
    "Received",
    "Smsc",
    "SmscOptions",
    "SmscRule",
    "SubmitAction",
]

log = logging.getLogger(__name__)


class Smsc:
    """The simulator. ``await start()``, then connect ESMEs to ``host:port``; ``await stop()``.

    Counters: ``submitted`` (submit_sm accepted), ``receipts_sent`` (receipts, ENROUTE ones
    included, that the ESME answered ESME_ROK), ``throttled`` (ESME_RTHROTTLED answers),
    ``rejected`` (other refusals), ``dropped`` (connections closed by a drop rule),
    ``ignored`` (submit_sm never answered), ``queried`` (query_sm answered), ``mo_sent``
    (send_mo messages all of whose parts were answered ESME_ROK), ``binds_refused`` (bind
    requests refused by the bind fault, not by authentication).
    """

    def __init__(self, options: SmscOptions | None = None) -> None:
        self.options = options or SmscOptions()
        self.host = self.options.host
        self.port = self.options.port
        self.submitted = 0
        self.receipts_sent = 0
        self.throttled = 0
        self.rejected = 0
        self.dropped = 0
        self.ignored = 0
        self.queried = 0
        self.mo_sent = 0
        self.binds_refused = 0
        self.submit_counts: Counter[str] = Counter()
        """submit_sm received per destination, whatever the answer."""
        self.received: list[Received] = []
        """Accepted submissions, oldest first, when ``options.record`` is set."""
        self._policy = SubmitPolicy(self.options)
        self._bind_refusal = self.options.bind_refusal()
        self._binds_seen = 0
        self._started_at = 0.0
        self._store = MessageStore(self.options.remember)
        self._id_prefix = ""
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._links: list[SmscLink] = []
        self._router = ReceiptRouter(self._links, self.options, self._receipt_answered)

    # ------------------------------------------------------------------ lifecycle

    @property
    def receipts_redelivered(self) -> int:
        """Receipts offered again (``redeliver_receipts``)."""
        return self._router.redelivered

    @property
    def bound_sessions(self) -> int:
        """Links with a successful bind that are still open."""
        return sum(1 for link in self._links if link.bind_type is not None and link.open)

    @property
    def closed_sessions(self) -> int:
        """Links that were bound and have closed since start (a peer that died, unbound
        or was dropped)."""
        return sum(1 for link in self._links if link.bind_type is not None and not link.open)

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("smsc already started")
        # Ids are <run prefix><counter>, in hex: a random prefix per start keeps a receipt
        # from ever naming an id issued before a restart.
        self._id_prefix = secrets.token_hex(4)
        self._ids = itertools.count(1)
        self._binds_seen = 0
        self._started_at = asyncio.get_running_loop().time()
        # Once started, a restart listens on the same port (an SMSC back after an outage).
        self._server = await asyncio.start_server(self._on_client, self.options.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("smsc listening on %s:%d", self.host, self.port)

    async def stop(self, *, graceful: bool = True) -> None:
        """Stop listening, drop pending receipts, unbind every session; ``graceful=False``
        hangs up without unbind and without answering what is in flight, as a crashed
        SMSC would."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await asyncio.gather(
            *(link.scheduler.close() for link in self._links if link.scheduler is not None)
        )
        sessions = [link.session for link in self._links if link.session is not None]
        await asyncio.gather(
            *(
                s.unbind(timeout=self.options.unbind_timeout) if graceful else s.close()
                for s in sessions
            ),
            return_exceptions=True,
        )
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> Smsc:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = SmscLink()
        opts = self.options

        async def handler(pdu: Pdu) -> Pdu | None:
            return await self._handle(link, pdu)

        session = Session(
            reader,
            writer,
            handler=handler,
            window=opts.window,
            response_timeout=opts.response_timeout,
            enquire_link_interval=opts.enquire_link_interval or None,
            name=f"smsc<-{peer_name(writer)}",
        )
        link.session = session
        self._links.append(link)
        try:
            await session.wait_closed()
        finally:
            self._links.remove(link)
            if link.scheduler is not None:
                await link.scheduler.close()

    # ------------------------------------------------------------------ requests

    async def _handle(self, link: SmscLink, pdu: Pdu) -> Pdu | None:
        seq = pdu.sequence_number
        if isinstance(pdu, Bind):
            return self._bind(link, pdu)
        if isinstance(pdu, SubmitSm) and link.bind_type is not None:
            if not link.can_transmit:
                return SubmitSmResp(
                    sequence_number=seq, command_status=CommandStatus.ESME_RINVBNDSTS
                )
            return await self._submit(link, pdu)
        if isinstance(pdu, QuerySm) and link.bind_type is not None:
            return self._query(link, pdu)
        status = (
            CommandStatus.ESME_RINVBNDSTS
            if link.bind_type is None
            else CommandStatus.ESME_RINVCMDID
        )
        return GenericNack(sequence_number=seq, command_status=status)

    def _bind(self, link: SmscLink, pdu: Bind) -> BindResp:
        resp_cls = BIND_RESPONSE[type(pdu)]
        expected = self.options.accounts.get(pdu.system_id)
        seen, self._binds_seen = self._binds_seen, self._binds_seen + 1
        elapsed_ms = (asyncio.get_running_loop().time() - self._started_at) * 1000
        status: int
        if link.bind_type is not None:
            status = CommandStatus.ESME_RALYBND
        elif self._bind_refusal.refuses(seen, elapsed_ms):
            status = self._bind_refusal.status
            self.binds_refused += 1
        elif expected is None:
            status = CommandStatus.ESME_RINVSYSID
        elif pdu.password != expected:
            status = CommandStatus.ESME_RINVPASWD
        else:
            status = CommandStatus.ESME_ROK
            link.bind_type = type(pdu)
            link.system_id = pdu.system_id
            if link.can_receive:
                self._router.attach(link, pdu.system_id)
        # status_name: 0x... for a refuse_bind_status outside table 5-2
        log.info("smsc: %s %r: %s", type(pdu).__name__, pdu.system_id, status_name(status))
        return resp_cls(
            sequence_number=pdu.sequence_number,
            command_status=status,
            system_id=self.options.system_id,
        )

    async def _submit(self, link: SmscLink, pdu: SubmitSm) -> SubmitSmResp | None:
        seq = pdu.sequence_number
        self.submit_counts[pdu.destination_addr] += 1
        if self._policy.throttles():  # throttle_every, accept_rate
            self.throttled += 1
            return SubmitSmResp(sequence_number=seq, command_status=CommandStatus.ESME_RTHROTTLED)
        behaviour = self._policy.behaviour(pdu)
        if behaviour.action is SubmitAction.DROP:
            self.dropped += 1
            if link.session is not None:
                await link.session.close()
            return None
        if behaviour.action is SubmitAction.IGNORE:
            self.ignored += 1
            return None
        if behaviour.response_delay_ms:
            # The session runs each request's handler in its own task: this holds up only
            # this answer, not the link.
            await asyncio.sleep(behaviour.response_delay_ms / 1000)
            if not link.open:
                return None
        status = behaviour.submit_status
        if status != CommandStatus.ESME_ROK:
            if status == CommandStatus.ESME_RTHROTTLED:
                self.throttled += 1
            else:
                self.rejected += 1
            return SubmitSmResp(sequence_number=seq, command_status=status)
        message_id = f"{self._id_prefix}{next(self._ids):08x}"
        self.submitted += 1
        if self.options.record:
            self.received.append(record_of(pdu, message_id))
        self._accept(link, pdu, message_id, behaviour)
        return SubmitSmResp(sequence_number=seq, message_id=message_id)

    def set_rules(self, rules: Sequence[SmscRule]) -> None:
        """Replace the per-destination rules while running (a fault begins or ends);
        ``times`` counts start again."""
        self._policy.set_rules(rules)

    def _accept(self, link: SmscLink, pdu: SubmitSm, message_id: str, behaviour: Behaviour) -> None:
        """Remember the message for query_sm and schedule its receipts."""
        now = asyncio.get_running_loop().time()
        submitted_at = datetime.now(UTC)
        behaviour = within_validity(behaviour, pdu.validity_period, submitted_at)
        delay = behaviour.receipt_delay_ms / 1000
        done_at = submitted_at + timedelta(seconds=delay)
        self._store.remember(message_id, behaviour, now + delay, done_at)
        if behaviour.wants_receipt(pdu.registered_delivery):
            self._router.send_receipts(
                link,
                pdu,
                message_id,
                behaviour,
                now=now,
                due=now + delay,
                submitted_at=submitted_at,
                done_at=done_at,
            )

    def _receipt_answered(self, receipt: ReceiptPdu, status: int) -> None:
        if status == CommandStatus.ESME_ROK:
            self.receipts_sent += 1

    def _query(self, link: SmscLink, pdu: QuerySm) -> QuerySmResp:
        seq = pdu.sequence_number
        if not link.can_transmit:
            return QuerySmResp(sequence_number=seq, command_status=CommandStatus.ESME_RINVBNDSTS)
        answer = self._store.query(pdu.message_id, asyncio.get_running_loop().time())
        if answer is None:
            ours = pdu.message_id.startswith(self._id_prefix) and len(pdu.message_id) > 8
            status = CommandStatus.ESME_RQUERYFAIL if ours else CommandStatus.ESME_RINVMSGID
            return QuerySmResp(
                sequence_number=seq, command_status=status, message_id=pdu.message_id
            )
        self.queried += 1
        return QuerySmResp(
            sequence_number=seq,
            message_id=pdu.message_id,
            final_date=answer.final_date,
            message_state=answer.message_state,
            error_code=answer.error_code,
        )

    # ------------------------------------------------------------------ received messages

    def reassembled(self) -> dict[tuple[str, int | None], tuple[str, ...]]:
        """Full texts of the recorded submissions per (destination_addr, concatenation
        reference), single-part messages under None; see :func:`smsc_messages.reassemble`."""
        return reassemble(self.received)

    # ------------------------------------------------------------------ mobile originated

    async def send_mo(
        self,
        destination: str,
        source: str,
        text: str,
        *,
        split: MoSplit | str = MoSplit.AUTO,
        ref: int | None = None,
        as_pdu: DeliverAs | str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Pdu:
        """Send a mobile-originated message from ``source`` (the handset) to
        ``destination`` (the ESME's number) over the newest bound receiver/transceiver.

        ``split`` (see :class:`MoSplit`): ``auto`` (one short_message if it fits one SMS,
        else 8-bit UDH parts), ``udh8``, ``udh16``, ``sar`` or ``payload``; ``ref`` is the
        concatenation reference (random if None). ``as_pdu`` ("deliver_sm" or "data_sm",
        default ``options.mo_as``) is the request that carries each part; a data_sm part has
        its octets in message_payload (see :func:`as_data_sm`). Parts are sent in order, each
        after the
        previous one was answered. Returns the first response that is not ESME_ROK, else
        the last one. Raises ConnectorError (retryable) when no receiver is bound or the
        session fails."""
        link = next(
            (link for link in reversed(self._links) if link.can_receive and link.open), None
        )
        if link is None or link.session is None:
            raise ConnectorError("smsc: no bound receiver or transceiver", retryable=True)
        as_data = DeliverAs(as_pdu or self.options.mo_as) is DeliverAs.DATA_SM
        resp: Pdu | None = None
        for part in mo_parts(destination, source, text, MoSplit(split), ref):
            resp = await link.session.request(as_data_sm(part) if as_data else part, timeout)
            if resp.command_status != CommandStatus.ESME_ROK:
                return resp
        assert resp is not None
        self.mo_sent += 1
        return resp
