"""The dispatcher-facing SMPP connector: ``binds`` transceiver binds to one SMSC (SMPP 3.4).

- **binds** (``links``): each bind is its own session with its own supervisor that rebinds
  with backoff. Each message goes to the bound link with the fewest messages in progress,
  and all its parts use that link. ``submit`` raises a retryable ConnectorError only when
  no link is bound; a message whose link dies under it comes back retryable (it is never
  lost: the dispatcher sends it again).
- **submit**: each :class:`Submission` becomes one or more submit_sm (``outbound``). The
  messages of a batch go out concurrently; the parts of one long message go out in order
  and stop at the first refusal (the message then fails with that part's error; parts
  already accepted cannot be recalled).
- **pacing** (``pacing``): ``max_rate`` caps submit_sm per second over all binds with a
  token bucket. ESME_RTHROTTLED and ESME_RMSGQFUL pause every new submit_sm for a backoff
  that grows while the refusals go on and resets after a success, and the refused part is
  sent again *here*, up to ``throttle_retries`` times, before the message goes back to the
  dispatcher as retryable. Why here: the dispatcher can only resend a whole message, from
  part 1, with a new concatenation reference, so a long message throttled at part 2 would
  leave the handset an orphan copy of part 1. Retrying just the refused part, with the same
  reference, keeps every part unique. The first part gives up after ``throttle_retries``
  (the SMSC stays throttled for several backoffs; the dispatcher's coarser retry takes
  over, nothing was sent yet). A later part never gives up on throttling while its link
  is up: giving up would make the dispatcher resend the parts already accepted.
- **receipts and inbound messages** (``inbound``): a deliver_sm on any bind is handed to
  the report or inbound sink *before* deliver_sm_resp is sent, so only stored ones are
  acknowledged; if the sink fails the SMSC gets ESME_RX_T_APPN and delivers again.
- **query_sm** (``query``): with ``query_after_ms`` > 0 the connector is a
  QueryableConnector and the dispatcher asks it about messages whose receipt is that late.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

from textgate.connectors.base import (
    InboundSink,
    Outcome,
    OutcomeSink,
    ReportSink,
    Submission,
)
from textgate.connectors.smpp.constants import CommandStatus, PduError
from textgate.connectors.smpp.inbound import DeliverHandler
from textgate.connectors.smpp.links import Link, LinkHealth, LinkPool
from textgate.connectors.smpp.options import SmppOptions
from textgate.connectors.smpp.outbound import Source, SubmitBuilder
from textgate.connectors.smpp.pacing import Backpressure, Clock, Sleep, TokenBucket
from textgate.connectors.smpp.pdus import Pdu, SubmitSm, SubmitSmResp
from textgate.connectors.smpp.query import query_pdu, report_from_query
from textgate.connectors.smpp.status import BACKPRESSURE_STATUSES, to_connector_error
from textgate.core.message import DeliveryReport
from textgate.errors import ConnectorError, GatewayError

__all__ = ["SmppConnector", "SmppOptions"]

log = logging.getLogger(__name__)

_RECENT_IDS: Final = 100_000
"""Submitted ids remembered, with their source address: to match the spelling of ids in
receipts and to repeat the source in query_sm."""


def _not_bound(name: str) -> ConnectorError:
    return ConnectorError(f"smpp {name}: not bound", retryable=True, code="smpp_not_bound")


class SmppConnector:
    """Connector protocol over ``options.binds`` SMPP transceiver binds.

    ``report_query_after_ms`` exists only when ``query_after_ms`` > 0: the dispatcher treats
    a connector without it as one it cannot query (``QueryableConnector`` is a runtime
    protocol that checks the attribute), so query_sm stays off unless configured.
    ``clock`` and ``sleep`` drive the rate limit and the throttle pauses (tests pass
    virtual ones).
    """

    report_query_after_ms: int

    def __init__(
        self,
        name: str,
        options: SmppOptions,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = name
        self.options = options
        if options.query_after_ms > 0:
            self.report_query_after_ms = options.query_after_ms
        self._recent_ids: OrderedDict[str, Source] = OrderedDict()
        known = self._recent_ids.__contains__
        self._handler = DeliverHandler(name, options.default_alphabet, known)
        self._pool = LinkPool(name, options, self._handler)
        self._builder = SubmitBuilder(options)
        self._bucket = TokenBucket(options.max_rate, options.burst, clock=clock, sleep=sleep)
        self._backpressure = Backpressure(
            options.throttle_backoff_initial,
            options.throttle_backoff_max,
            clock=clock,
            sleep=sleep,
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def bound(self) -> bool:
        """True while at least one bind is up."""
        return self._pool.bound > 0

    @property
    def bound_links(self) -> int:
        """How many binds are up."""
        return self._pool.bound

    async def wait_bound(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until at least one bind is up (for tests and health checks)."""
        await self._pool.wait_bound(timeout)

    async def start(self, sink: ReportSink, inbound: InboundSink | None = None) -> None:
        """Bind every link now; a retryable failure is logged and retried in the
        background, a refusal of the credentials (not retryable) is raised."""
        self._handler.reports = sink
        self._handler.inbound = inbound
        await self._pool.start()

    async def stop(self) -> None:
        await self._pool.stop()

    # ------------------------------------------------------------------ submit

    async def submit(
        self, batch: Sequence[Submission], done: OutcomeSink | None = None
    ) -> list[Outcome]:
        if not self._pool.bound:
            raise _not_bound(self.name)
        if self._bucket.rate > 0:  # pacing is per submit_sm: the per-message path does it
            return list(await asyncio.gather(*(self._submit_one(sub) for sub in batch)))
        return await self._submit_batch(batch)

    async def _submit_batch(self, batch: Sequence[Submission]) -> list[Outcome]:
        """One-part messages (nearly all) go out from this one coroutine, a response future
        each (Session.begin) rather than a task each; long messages, and messages the SMSC
        throttles, take the per-message path (:meth:`_submit_one`)."""
        outcomes: list[Outcome | None] = [None] * len(batch)
        begun: list[tuple[int, Source, int, asyncio.Future[Pdu]]] = []
        slow: list[tuple[int, tuple[Source, list[SubmitSm]]]] = []
        for i, sub in enumerate(batch):
            try:
                source, pdus = self._builder.build(sub)
            except (GatewayError, ValueError) as exc:
                outcomes[i] = _invalid(sub, exc)
                continue
            if len(pdus) != 1:
                slow.append((i, (source, pdus)))
                continue
            if self._backpressure.paused:
                await self._backpressure.wait()
            link = self._pool.pick()
            session = link.session if link is not None else None
            if link is None or session is None:
                outcomes[i] = Outcome(sub.message_id, error=_not_bound(self.name))
                continue
            epoch = self._backpressure.epoch
            try:
                future = await session.begin(pdus[0])
            except ConnectorError as exc:
                outcomes[i] = Outcome(sub.message_id, error=exc)
                continue
            except PduError as exc:  # the PDU does not encode (e.g. an address too long)
                outcomes[i] = Outcome(
                    sub.message_id,
                    error=ConnectorError(exc.message, retryable=False, code="smpp_invalid_pdu"),
                )
                continue
            link.busy += 1
            future.add_done_callback(functools.partial(_release, link))
            begun.append((i, source, epoch, future))
        others = asyncio.gather(*(self._submit_one(batch[i], built) for i, built in slow))
        if begun:
            await asyncio.wait([future for *_, future in begun])
        retry: list[int] = []
        for i, source, epoch, future in begun:
            outcome = self._settle(batch[i], source, epoch, future)
            if outcome is None:
                retry.append(i)
            else:
                outcomes[i] = outcome
        for (i, _), outcome in zip(slow, await others, strict=True):
            outcomes[i] = outcome
        if retry:
            again = await asyncio.gather(*(self._submit_one(batch[i], refused=1) for i in retry))
            for i, outcome in zip(retry, again, strict=True):
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def _settle(
        self, sub: Submission, source: Source, epoch: int, future: asyncio.Future[Pdu]
    ) -> Outcome | None:
        """The outcome of a begun submit_sm; None when the SMSC throttled it (to be sent
        again by the per-message path, which retries throttling)."""
        exc = future.exception()
        if exc is not None:
            error = (
                exc
                if isinstance(exc, ConnectorError)
                else ConnectorError(f"smpp {self.name}: {exc!r}", retryable=True)
            )
            return Outcome(sub.message_id, error=error)
        resp = future.result()
        status = resp.command_status
        if status in BACKPRESSURE_STATUSES:
            self._backpressure.refused(epoch)
            return None
        if status != CommandStatus.ESME_ROK:
            return Outcome(sub.message_id, error=to_connector_error(status))
        if not isinstance(resp, SubmitSmResp):
            return Outcome(
                sub.message_id,
                error=ConnectorError(
                    f"smpp {self.name}: unexpected {resp.command_id.name.lower()}",
                    retryable=True,
                    code="smpp_protocol_error",
                ),
            )
        self._backpressure.accepted(epoch)
        self._remember(resp.message_id, source)
        return Outcome(sub.message_id, external_id=resp.message_id)

    async def _submit_one(
        self,
        sub: Submission,
        built: tuple[Source, list[SubmitSm]] | None = None,
        *,
        refused: int = 0,
    ) -> Outcome:
        """Send one message part by part; ``refused``: how often the SMSC already
        throttled its first part (on the batch path)."""
        if built is None:
            try:
                built = self._builder.build(sub)
            except (GatewayError, ValueError) as exc:
                return _invalid(sub, exc)
        source, pdus = built
        held: list[Link] = []  # the link this message uses, once its first part picked it
        try:
            message_id = ""
            for index, pdu in enumerate(pdus):
                result = await self._send_part(
                    pdu, held, first=index == 0, refused=refused if index == 0 else 0
                )
                if isinstance(result, ConnectorError):
                    return Outcome(sub.message_id, error=result)
                message_id = result
        finally:
            for link in held:
                link.busy -= 1
        self._remember(message_id, source)
        return Outcome(sub.message_id, external_id=message_id)

    async def _send_part(
        self, pdu: SubmitSm, held: list[Link], *, first: bool, refused: int = 0
    ) -> str | ConnectorError:
        """Send one part, waiting for the pacing first and sending it again while the SMSC
        throttles (see the module docstring). The first part picks the link and appends it
        to ``held`` with its ``busy`` count raised (the caller lowers it); later parts stay
        on it. Returns the part's message id, or the error that stopped the message."""
        refusals = refused
        while True:
            # Both are coroutines; most of the time neither has anything to wait for.
            if self._backpressure.paused:
                await self._backpressure.wait()
            if self._bucket.rate > 0:
                await self._bucket.take()
            if not held:
                picked = self._pool.pick()
                if picked is None:
                    return _not_bound(self.name)
                picked.busy += 1
                held.append(picked)
            link = held[0]
            session = link.session
            if session is None:
                return ConnectorError(
                    f"smpp {link.label}: link lost during a long message",
                    retryable=True,
                    code="smpp_link_lost",
                )
            epoch = self._backpressure.epoch
            try:
                resp = await session.request(pdu)
            except ConnectorError as exc:
                return exc
            except PduError as exc:  # the PDU does not encode (e.g. an address too long)
                return ConnectorError(exc.message, retryable=False, code="smpp_invalid_pdu")
            status = resp.command_status
            if status in BACKPRESSURE_STATUSES:
                self._backpressure.refused(epoch)
                refusals += 1
                if refusals <= self.options.throttle_retries or not first:
                    log.info(
                        "smpp %s: throttled by the SMSC (%s); pausing %.2f s",
                        link.label,
                        CommandStatus(status).name,
                        self._backpressure.delay,
                    )
                    continue
                return to_connector_error(status)
            if status != CommandStatus.ESME_ROK:
                return to_connector_error(status)
            if not isinstance(resp, SubmitSmResp):
                return ConnectorError(
                    f"smpp {link.label}: unexpected {resp.command_id.name.lower()}",
                    retryable=True,
                    code="smpp_protocol_error",
                )
            self._backpressure.accepted(epoch)
            return resp.message_id

    def _remember(self, external_id: str, source: Source) -> None:
        self._recent_ids[external_id] = source
        self._recent_ids.move_to_end(external_id)
        while len(self._recent_ids) > _RECENT_IDS:
            self._recent_ids.popitem(last=False)

    # ------------------------------------------------------------------ query_sm

    async def query(self, external_ids: Sequence[str]) -> list[DeliveryReport]:
        """Reports for the ids the SMSC knows in a final state; ids not in the recent-ids
        map (their source address, which query_sm must repeat, is gone), in a non-final
        state, unknown to the SMSC or whose query failed are left out."""
        results = await asyncio.gather(*(self._query_one(x) for x in dict.fromkeys(external_ids)))
        return [r for r in results if r is not None]

    async def _query_one(self, external_id: str) -> DeliveryReport | None:
        source = self._recent_ids.get(external_id)
        link = self._pool.pick()
        session = link.session if link is not None else None
        if source is None or link is None or session is None:
            return None
        link.busy += 1
        try:
            resp = await session.request(query_pdu(external_id, source))
        except (ConnectorError, PduError) as exc:
            log.info("smpp %s: query_sm %s failed: %s", link.label, external_id, exc.message)
            return None
        finally:
            link.busy -= 1
        return report_from_query(self.name, external_id, resp)

    def links(self) -> tuple[LinkHealth, ...]:
        """Each bind's state, for readiness, metrics and the dashboard (``HasLinks``)."""
        return self._pool.health()


def _release(link: Link, _: object) -> None:
    link.busy -= 1


def _invalid(sub: Submission, exc: GatewayError | ValueError) -> Outcome:
    message = exc.message if isinstance(exc, GatewayError) else str(exc)
    return Outcome(
        sub.message_id,
        error=ConnectorError(message, retryable=False, code="smpp_invalid_message"),
    )
