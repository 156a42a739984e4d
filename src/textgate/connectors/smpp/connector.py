"""The dispatcher-facing SMPP connector: ``binds`` transceiver binds to one SMSC (SMPP 3.4).

- **binds** (``links``): each bind is its own session with its own supervisor that rebinds
  with backoff. Each message goes to the bound link with the fewest messages in progress,
  and all its parts use that link.
- **outcomes, one message at a time** (DESIGN "Delivery contract"; the sending is
  ``submitter``'s): each message's outcome goes to the dispatcher's ``done`` callback the
  moment its last part is answered, and says how far it got: a message that found no bound
  link, or whose session closed before its PDU was written, was *not sent*; one written
  with no answer (response timeout, link lost with the PDU outstanding) is *in doubt*; an
  answer other than ESME_ROK is a refusal. A submit_sm_resp that comes after the response
  timeout is still reported (a second outcome for the same message: the dispatcher records
  it as sent if it has not been sent again meanwhile).
- **pacing** (``pacing.AdaptiveRate``): ``max_rate`` caps submit_sm per second over all
  binds; ESME_RTHROTTLED / ESME_RMSGQFUL pause new submit_sm briefly and halve the rate,
  which then grows back while the SMSC accepts (AIMD). A throttled part is sent again
  *here* once the pace allows, so the rest of the window is not sent into the same wall;
  the first part of a message gives up after ``throttle_retries`` and the message goes
  back to the dispatcher as not sent (no attempt used). A later part never gives up on
  throttling while its link is up.
- **long messages part by part**: an interrupted long message reports, with its error,
  which parts the SMSC took and under which concatenation reference (``Outcome.progress``).
  The next try sends only the other parts, under the same reference, so the handset never
  gets an orphan part or a part twice.
- **shared by a cluster**: given ``budget`` (a :class:`shared_rate.RateBudget`), every
  submit_sm also waits for it, so ``max_rate`` holds for all processes together; given
  ``leases`` (:class:`bind_leases.BindLeases`), this process binds only the binds it holds
  a lease on, and :attr:`SmppConnector.standby` says when it holds none.
- **receipts and inbound messages** (``inbound``): a deliver_sm or data_sm on any bind is handed to
  the report or inbound sink *before* deliver_sm_resp is sent, so only stored ones are
  acknowledged; if the sink fails the SMSC gets ESME_RX_T_APPN and delivers again.
- **query_sm** (``query``): with ``query_after_ms`` > 0 the connector is a
  QueryableConnector and the dispatcher asks it about messages whose receipt is that late,
  naming each by its stored id and sender (so it works for messages sent before a restart).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence

from textgate.connectors.base import (
    HandoffGate,
    InboundSink,
    Outcome,
    OutcomeSink,
    QueryRef,
    ReportSink,
    Submission,
)
from textgate.connectors.smpp.bind_leases import BindKeeper, BindLeases
from textgate.connectors.smpp.constants import PduError
from textgate.connectors.smpp.inbound import DeliverHandler
from textgate.connectors.smpp.links import LinkHealth, LinkPool
from textgate.connectors.smpp.options import SmppOptions
from textgate.connectors.smpp.outbound import Source, SubmitBuilder
from textgate.connectors.smpp.pacing import AdaptiveRate, Clock, Sleep
from textgate.connectors.smpp.query import query_pdu, report_from_query
from textgate.connectors.smpp.shared_rate import RateBudget
from textgate.connectors.smpp.submitter import BatchProgress, Built, Submitter, not_bound
from textgate.core.message import DeliveryReport
from textgate.errors import ConnectorError, GatewayError

__all__ = ["SmppConnector", "SmppOptions"]

log = logging.getLogger(__name__)


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
        budget: RateBudget | None = None,
        leases: BindLeases | None = None,
    ) -> None:
        self.name = name
        self.options = options
        if options.query_after_ms > 0:
            self.report_query_after_ms = options.query_after_ms
        self._recent_ids: OrderedDict[str, Source] = OrderedDict()
        """Submitted ids, with their source address (filled by the submitter)."""
        known = self._recent_ids.__contains__
        self._handler = DeliverHandler(name, options.default_alphabet, known)
        self._pool = LinkPool(name, options, self._handler)
        self._builder = SubmitBuilder(options)
        self.handoff_window = options.window * options.binds
        """Messages that may be written and not yet recorded (see ``HandoffGate``)."""
        self.rate = AdaptiveRate(
            options.max_rate,
            options.burst,
            floor=options.throttle_min_rate,
            pause_initial=options.throttle_backoff_initial,
            pause_max=options.throttle_backoff_max,
            clock=clock,
            sleep=sleep,
        )
        self.keeper = (
            None
            if leases is None
            else BindKeeper(
                name,
                leases,
                self._pool,
                lease_seconds=options.lease_seconds,
                unbind_timeout=options.unbind_timeout,
            )
        )
        self._submitter = Submitter(
            name, options, self._pool, self._builder, self.rate, budget, self._recent_ids
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def standby(self) -> bool:
        """True while other processes hold every bind of this connector (leases)."""
        return self.keeper is not None and self.keeper.standby

    @property
    def bound(self) -> bool:
        """True while at least one bind is up."""
        return self._pool.bound > 0

    @property
    def bound_links(self) -> int | None:
        """How many binds are up; None while standing by (not this process's to carry)."""
        return None if self.standby else self._pool.bound

    async def wait_bound(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until at least one bind is up (for tests and health checks)."""
        await self._pool.wait_bound(timeout)

    async def start(self, sink: ReportSink, inbound: InboundSink | None = None) -> None:
        """Bind every link now; a link that cannot bind (even one whose credentials are
        refused) is logged and retried in the background: it never stops the gateway."""
        self._handler.reports = sink
        self._handler.inbound = inbound
        if self.keeper is not None:
            await self.keeper.start()
        else:
            await self._pool.start()

    async def stop(self) -> None:
        if self.keeper is not None:
            await self.keeper.stop()
        else:
            await self._pool.stop()

    # ------------------------------------------------------------------ submit

    async def submit(
        self,
        batch: Sequence[Submission],
        done: OutcomeSink | None = None,
        gate: HandoffGate | None = None,
    ) -> list[Outcome]:
        """One-part messages (nearly all) go out from this one coroutine, a response future
        each (Session.begin) rather than a task each; long messages, and messages the SMSC
        throttles, take the per-message path (:meth:`Submitter.send`). Each outcome is
        reported as soon as it is known."""
        if not self._pool.bound:
            raise not_bound(self.name)
        results: list[Outcome | None] = [None] * len(batch)
        tasks: list[asyncio.Task[None]] = []

        def finish(index: int, outcome: Outcome) -> None:
            if results[index] is not None:
                # A late answer to a message already reported in doubt.
                if done is not None and outcome.error is None:
                    done(outcome)
                return
            results[index] = outcome
            if done is not None:
                done(outcome)

        def spawn(index: int, sub: Submission, built: Built, refused: int) -> None:
            async def run() -> None:
                finish(index, await self._submitter.send(sub, built, refused=refused, gate=gate))

            tasks.append(asyncio.create_task(run()))

        state = BatchProgress()
        try:
            for index, sub in enumerate(batch):
                state.current = index
                report = functools.partial(finish, index)
                try:
                    built = self._submitter.build(sub)
                except (GatewayError, ValueError) as exc:
                    report(_invalid(sub, exc))
                    continue
                if len(built[1]) != 1 or built[2].ref is not None:
                    spawn(index, sub, built, 0)
                    continue
                again = functools.partial(spawn, index)
                await self._submitter.begin(sub, built, report, again, state, gate)
            state.current = None
        except asyncio.CancelledError:
            # Stopping: what was not written yet never left; say so, then stop.
            for index, sub in enumerate(batch):
                if results[index] is None:
                    writing = state.writing and index == state.current
                    finish(index, Outcome(sub.message_id, error=_stopping(self.name, writing)))
            for task in tasks:
                task.cancel()
            raise
        if state.unanswered:
            state.answered = asyncio.get_running_loop().create_future()
            await state.answered
        while tasks:
            pending, tasks[:] = list(tasks), []
            await asyncio.gather(*pending)
        return [r for r in results if r is not None]

    # ------------------------------------------------------------------ query_sm

    async def query(self, refs: Sequence[QueryRef]) -> list[DeliveryReport]:
        """Reports for the messages the SMSC knows in a final state; those in a non-final
        state, unknown to the SMSC or whose query failed are left out."""
        unique = {r.external_id: r for r in refs}
        results = await asyncio.gather(*(self._query_one(r) for r in unique.values()))
        return [r for r in results if r is not None]

    async def _query_one(self, ref: QueryRef) -> DeliveryReport | None:
        source = self._recent_ids.get(ref.external_id) or self._builder.source(ref.sender)
        link = self._pool.pick()
        session = link.session if link is not None else None
        if link is None or session is None:
            return None
        link.busy += 1
        try:
            resp = await session.request(query_pdu(ref.external_id, source))
        except (ConnectorError, PduError) as exc:
            log.info("smpp %s: query_sm %s failed: %s", link.label, ref.external_id, exc.message)
            return None
        finally:
            link.busy -= 1
        return report_from_query(self.name, ref.external_id, resp)

    def links(self) -> tuple[LinkHealth, ...]:
        """Each bind's state, for readiness, metrics and the dashboard (``HasLinks``)."""
        return self._pool.health()


def _stopping(name: str, writing: bool) -> ConnectorError:
    if writing:  # stopped in the middle of the write: it may have gone out
        return ConnectorError.in_doubt(f"smpp {name}: stopped while sending it", code="stopping")
    return ConnectorError.not_sent(f"smpp {name}: stopped before it was sent", code="stopping")


def _invalid(sub: Submission, exc: GatewayError | ValueError) -> Outcome:
    message = exc.message if isinstance(exc, GatewayError) else str(exc)
    return Outcome(
        sub.message_id,
        error=ConnectorError(message, retryable=False, code="smpp_invalid_message"),
    )
