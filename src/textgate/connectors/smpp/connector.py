"""The dispatcher-facing SMPP connector: ``binds`` transceiver binds to one SMSC (SMPP 3.4).

- **binds** (``links``): each bind is its own session with its own supervisor that rebinds
  with backoff. Each message goes to the bound link with the fewest messages in progress,
  and all its parts use that link.
- **outcomes, one message at a time** (DESIGN "Delivery contract"): each message's outcome
  goes to the dispatcher's ``done`` callback the moment its last part is answered, and says
  how far it got: a message that found no bound link, or whose session closed before its
  PDU was written, was *not sent*; one written with no answer (response timeout, link lost
  with the PDU outstanding) is *in doubt*; an answer other than ESME_ROK is a refusal. A
  submit_sm_resp that comes after the response timeout is still reported (a second
  outcome for the same message: the dispatcher records it as sent if it has not been sent
  again meanwhile).
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
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Final

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
from textgate.connectors.smpp.constants import CommandStatus, PduError
from textgate.connectors.smpp.inbound import DeliverHandler
from textgate.connectors.smpp.links import Link, LinkHealth, LinkPool
from textgate.connectors.smpp.options import SmppOptions
from textgate.connectors.smpp.outbound import Source, SubmitBuilder
from textgate.connectors.smpp.pacing import AdaptiveRate, Clock, Sleep
from textgate.connectors.smpp.pdus import Pdu, SubmitSm, SubmitSmResp
from textgate.connectors.smpp.query import query_pdu, report_from_query
from textgate.connectors.smpp.shared_rate import RateBudget
from textgate.connectors.smpp.status import BACKPRESSURE_STATUSES, to_connector_error
from textgate.core.message import DeliveryReport
from textgate.errors import ConnectorError, GatewayError

__all__ = ["SmppConnector", "SmppOptions"]

log = logging.getLogger(__name__)

_RECENT_IDS: Final = 100_000
"""Submitted ids remembered, with their source address: to match the spelling of ids in
receipts (see inbound.DeliverHandler)."""


_THROTTLED_REMEMBERED: Final = 10_000


def _not_bound(name: str) -> ConnectorError:
    return ConnectorError.not_sent(f"smpp {name}: not bound", code="smpp_not_bound")


class _Parts:
    """The parts of one long message the SMSC took so far (the ``progress`` note)."""

    def __init__(self, note: str | None) -> None:
        self.ref: int | None = None
        self.taken: dict[int, str] = {}
        if note:
            try:
                data = json.loads(note)
                self.ref = int(data["ref"])
                self.taken = {int(k): str(v) for k, v in data["taken"].items()}
            except (ValueError, KeyError, TypeError, AttributeError):
                log.warning("ignoring an unreadable part note: %r", note[:100])

    def note(self) -> str | None:
        if self.ref is None:
            return None
        return json.dumps({"ref": self.ref, "taken": self.taken}, separators=(",", ":"))


_Built = tuple[Source, list[SubmitSm], _Parts]


class _Progress:
    """Where the batch loop is, for an orderly stop: the message being written, if any."""

    current: int | None = None
    writing = False
    unanswered = 0
    """Written one-part messages whose answer has not come yet."""
    answered: asyncio.Future[None] | None = None
    """Set when ``unanswered`` falls to 0 (one future per batch, not an ``asyncio.wait`` over
    a future per message: that would hang a second callback on every message)."""

    def one_answered(self) -> None:
        self.unanswered -= 1
        if self.unanswered == 0 and self.answered is not None and not self.answered.done():
            self.answered.set_result(None)


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
        self._throttled_to: OrderedDict[str, None] = OrderedDict()
        """Destinations throttled and not accepted since (see ``_throttled``)."""
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
        self._budget = budget
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
        throttles, take the per-message path (:meth:`_submit_one`). Each outcome is
        reported as soon as it is known."""
        if not self._pool.bound:
            raise _not_bound(self.name)
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

        def spawn(index: int, sub: Submission, built: _Built, refused: int) -> None:
            async def run() -> None:
                finish(index, await self._submit_one(sub, built, refused=refused, gate=gate))

            tasks.append(asyncio.create_task(run()))

        state = _Progress()
        try:
            for index, sub in enumerate(batch):
                state.current = index
                report = functools.partial(finish, index)
                try:
                    built = self._build(sub)
                except (GatewayError, ValueError) as exc:
                    report(_invalid(sub, exc))
                    continue
                if len(built[1]) != 1 or built[2].ref is not None:
                    spawn(index, sub, built, 0)
                    continue
                again = functools.partial(spawn, index)
                await self._begin(sub, built, report, again, state, gate)
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

    def _build(self, sub: Submission) -> _Built:
        """Its source and PDUs, and its parts note (a reference kept for a long message)."""
        parts = _Parts(sub.resume)
        source, pdus = self._builder.build(sub, ref=parts.ref)
        if len(pdus) > 1:
            parts.ref = self._builder.last_ref
        return source, pdus, parts

    async def _begin(
        self,
        sub: Submission,
        built: _Built,
        finish: Callable[[Outcome], None],
        spawn: Callable[[Submission, _Built, int], None],
        state: _Progress,
        gate: HandoffGate | None,
    ) -> None:
        """Write one one-part message; its answer settles it from a callback."""
        source, [pdu], _ = built
        if gate is not None:
            await gate.enter(sub.message_id)
        if self.rate.pacing:
            await self.rate.take()
        if self._budget is not None:
            await self._budget.take()
        link = self._pool.pick()
        session = link.session if link is not None else None
        if link is None or session is None:
            finish(Outcome(sub.message_id, error=_not_bound(self.name)))
            return None
        epoch = self.rate.epoch
        on_late = functools.partial(self._late, sub.message_id, source, finish)
        state.writing = True
        self.rate.sent()
        try:
            future = await session.begin(pdu, on_late=on_late)
        except ConnectorError as exc:
            finish(Outcome(sub.message_id, error=exc))
            return None
        except PduError as exc:  # the PDU does not encode (e.g. an address too long)
            finish(
                Outcome(
                    sub.message_id,
                    error=ConnectorError(exc.message, retryable=False, code="smpp_invalid_pdu"),
                )
            )
            return None
        finally:
            state.writing = False
        link.busy += 1

        def answered(fut: asyncio.Future[Pdu]) -> None:
            link.busy -= 1
            state.one_answered()
            outcome = self._settle(sub, source, epoch, fut)
            if outcome is None and self.options.throttle_retries > 0:
                spawn(sub, built, 1)  # throttled: again, on the per-message path
            elif outcome is None:
                finish(Outcome(sub.message_id, error=_throttled(self.name, fut.result())))
            else:
                finish(outcome)

        future.add_done_callback(answered)
        state.unanswered += 1

    def _late(
        self, message_id: str, source: Source, finish: Callable[[Outcome], None], resp: Pdu
    ) -> None:
        """A submit_sm_resp after the response timeout: the SMSC did take the message."""
        if isinstance(resp, SubmitSmResp) and resp.command_status == CommandStatus.ESME_ROK:
            self._remember(resp.message_id, source)
            finish(Outcome(message_id, external_id=resp.message_id))

    def _settle(
        self, sub: Submission, source: Source, epoch: int, future: asyncio.Future[Pdu]
    ) -> Outcome | None:
        """The outcome of a begun submit_sm; None when the SMSC throttled it."""
        exc = future.exception()
        if exc is not None:
            error = (
                exc
                if isinstance(exc, ConnectorError)
                else ConnectorError.in_doubt(f"smpp {self.name}: {exc!r}")
            )
            return Outcome(sub.message_id, error=error)
        resp = future.result()
        status = resp.command_status
        if status in BACKPRESSURE_STATUSES:
            self._throttled(epoch, sub.recipient, again=False)
            return None
        if status != CommandStatus.ESME_ROK:
            return Outcome(sub.message_id, error=to_connector_error(status))
        if not isinstance(resp, SubmitSmResp):
            return Outcome(sub.message_id, error=_unexpected(self.name, resp))
        self._accepted(epoch, sub.recipient)
        self._remember(resp.message_id, source)
        return Outcome(sub.message_id, external_id=resp.message_id)

    async def _submit_one(
        self,
        sub: Submission,
        built: _Built,
        *,
        refused: int = 0,
        gate: HandoffGate | None = None,
    ) -> Outcome:
        """Send one message part by part, skipping the parts an earlier try got accepted;
        ``refused``: how often the SMSC already throttled its first part."""
        source, pdus, parts = built
        if gate is not None:
            await gate.enter(sub.message_id)
        held: list[Link] = []  # the link this message uses, once its first part picked it
        try:
            for index, pdu in enumerate(pdus):
                if index in parts.taken:
                    continue
                first = not parts.taken
                result = await self._send_part(
                    pdu, held, first=first, refused=refused if first else 0
                )
                if isinstance(result, ConnectorError):
                    return Outcome(sub.message_id, error=result, progress=parts.note())
                parts.taken[index] = result
        except asyncio.CancelledError:
            raise
        finally:
            for link in held:
                link.busy -= 1
        message_id = parts.taken[len(pdus) - 1]
        self._remember(message_id, source)
        return Outcome(sub.message_id, external_id=message_id)

    async def _send_part(
        self, pdu: SubmitSm, held: list[Link], *, first: bool, refused: int = 0
    ) -> str | ConnectorError:
        """Send one part at the allowed pace, again while the SMSC throttles it (see the
        module docstring). The first part picks the link and appends it to ``held`` with
        its ``busy`` count raised (the caller lowers it); later parts stay on it. Returns
        the part's message id, or the error that stopped the message."""
        refusals = refused
        while True:
            if self.rate.pacing:
                await self.rate.take()
            if self._budget is not None:
                await self._budget.take()
            if not held:
                picked = self._pool.pick()
                if picked is None:
                    return _not_bound(self.name)
                picked.busy += 1
                held.append(picked)
            link = held[0]
            session = link.session
            if session is None:
                return ConnectorError.not_sent(
                    f"smpp {link.label}: link lost during a long message", code="smpp_link_lost"
                )
            epoch = self.rate.epoch
            self.rate.sent()
            try:
                resp = await session.request(pdu)
            except ConnectorError as exc:
                return exc
            except PduError as exc:  # the PDU does not encode (e.g. an address too long)
                return ConnectorError(exc.message, retryable=False, code="smpp_invalid_pdu")
            status = resp.command_status
            if status in BACKPRESSURE_STATUSES:
                repeat = self._throttled(epoch, pdu.destination_addr, again=refusals > 0)
                refusals += 1
                if first and repeat and not self.rate.pacing:
                    # This destination is throttled, not the link: trying again at once
                    # would only be refused again. Back to waiting (no attempt used).
                    return _throttled(link.label, resp)
                if refusals <= self.options.throttle_retries or not first:
                    log.info(
                        "smpp %s: throttled by the SMSC (%s); rate now %.1f/s",
                        link.label,
                        CommandStatus(status).name,
                        self.rate.limit,
                    )
                    continue
                # Nothing of this message was taken: back to waiting, no attempt used.
                return _throttled(link.label, resp)
            if status != CommandStatus.ESME_ROK:
                return to_connector_error(status)
            if not isinstance(resp, SubmitSmResp):
                return _unexpected(link.label, resp)
            self._accepted(epoch, pdu.destination_addr)
            return resp.message_id

    def _throttled(self, epoch: int, destination: str, *, again: bool) -> bool:
        """A throttling refusal. A destination refused before and not accepted since is
        told to the rate as a repeat (returns True): an SMSC that throttles one
        destination for good must not slow every other down."""
        key = destination.lstrip("+")
        again = again or key in self._throttled_to
        self._throttled_to[key] = None
        self._throttled_to.move_to_end(key)
        while len(self._throttled_to) > _THROTTLED_REMEMBERED:
            self._throttled_to.popitem(last=False)
        self.rate.throttled(epoch, again=again)
        return again

    def _accepted(self, epoch: int, destination: str) -> None:
        if self._throttled_to:
            self._throttled_to.pop(destination.lstrip("+"), None)
        self.rate.accepted(epoch)

    def _remember(self, external_id: str, source: Source) -> None:
        self._recent_ids[external_id] = source
        self._recent_ids.move_to_end(external_id)
        while len(self._recent_ids) > _RECENT_IDS:
            self._recent_ids.popitem(last=False)

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


def _unexpected(label: str, resp: Pdu) -> ConnectorError:
    return ConnectorError(
        f"smpp {label}: unexpected {resp.command_id.name.lower()}",
        retryable=True,
        code="smpp_protocol_error",
    )


def _throttled(label: str, resp: Pdu) -> ConnectorError:
    name = CommandStatus(resp.command_status).name
    return ConnectorError.not_sent(
        f"smpp {label}: throttled by the SMSC ({name})", code=name.lower()
    )


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
