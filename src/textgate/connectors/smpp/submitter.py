"""How the SMPP connector sends one message and turns the SMSC's answers into its outcome:
the two paths of :meth:`SmppConnector.submit` (the connector's docstring has the delivery
contract; this module is its sending half).

- **one part** (nearly all messages): :meth:`Submitter.begin` writes the submit_sm with
  ``Session.begin`` and settles the message from the response future's callback, without a
  task of its own; a submit_sm_resp that comes after the response timeout is still
  reported (a second outcome for the same message).
- **part by part** (long messages, and one-part messages the SMSC throttled):
  :meth:`Submitter.send` sends the parts in order on one link, skipping those an earlier
  try got accepted. Which parts the SMSC took, under which concatenation reference, is the
  outcome's ``progress`` (:class:`Parts`), so the next try sends only the others.

Both wait for the pace (``rate``, then the cluster's ``budget``), pick the bound link with
the fewest messages in progress, and tell the rate how the SMSC answered: a destination
throttled before and not accepted since counts as a repeat, so an SMSC that throttles one
destination for good does not slow every other down.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from textgate.connectors.base import HandoffGate, Outcome, Submission
from textgate.connectors.smpp.constants import CommandStatus, PduError
from textgate.connectors.smpp.links import Link, LinkPool
from textgate.connectors.smpp.options import SmppOptions
from textgate.connectors.smpp.outbound import Source, SubmitBuilder
from textgate.connectors.smpp.pacing import AdaptiveRate
from textgate.connectors.smpp.pdus import Pdu, SubmitSm, SubmitSmResp
from textgate.connectors.smpp.shared_rate import RateBudget
from textgate.connectors.smpp.status import BACKPRESSURE_STATUSES, to_connector_error
from textgate.errors import ConnectorError

__all__ = ["BatchProgress", "Built", "Parts", "Submitter", "not_bound"]

# The connector's logger: these lines are the connector's, whichever of its parts writes them.
log = logging.getLogger("textgate.connectors.smpp.connector")

_RECENT_IDS: Final = 100_000
"""Submitted ids remembered, with their source address: to match the spelling of ids in
receipts (see inbound.DeliverHandler)."""


_THROTTLED_REMEMBERED: Final = 10_000


def not_bound(name: str) -> ConnectorError:
    return ConnectorError.not_sent(f"smpp {name}: not bound", code="smpp_not_bound")


class Parts:
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


Built = tuple[Source, list[SubmitSm], Parts]
"""A message ready to send: its source address, its submit_sm PDUs, its parts note."""


class BatchProgress:
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


class Submitter:
    """Sends messages over ``pool`` at the pace of ``rate`` (and ``budget``); see the module
    docstring. Accepted ids go into ``recent_ids``, with their source address (the
    connector's table: receipts and query_sm look them up there)."""

    def __init__(
        self,
        name: str,
        options: SmppOptions,
        pool: LinkPool,
        builder: SubmitBuilder,
        rate: AdaptiveRate,
        budget: RateBudget | None,
        recent_ids: OrderedDict[str, Source],
    ) -> None:
        self.name = name
        self.options = options
        self.rate = rate
        self._pool = pool
        self._builder = builder
        self._budget = budget
        self._recent_ids = recent_ids
        self._throttled_to: OrderedDict[str, None] = OrderedDict()
        """Destinations throttled and not accepted since (see ``_throttled``)."""

    def build(self, sub: Submission) -> Built:
        """Its source and PDUs, and its parts note (a reference kept for a long message)."""
        parts = Parts(sub.resume)
        source, pdus = self._builder.build(sub, ref=parts.ref)
        if len(pdus) > 1:
            parts.ref = self._builder.last_ref
        return source, pdus, parts

    async def begin(
        self,
        sub: Submission,
        built: Built,
        finish: Callable[[Outcome], None],
        spawn: Callable[[Submission, Built, int], None],
        state: BatchProgress,
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
            finish(Outcome(sub.message_id, error=not_bound(self.name)))
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

    async def send(
        self,
        sub: Submission,
        built: Built,
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
        """Send one part at the allowed pace, again while the SMSC throttles it (see
        **pacing** in the connector's docstring). The first part picks the link and
        appends it to ``held`` with its ``busy`` count raised (the caller lowers it); later
        parts stay on it. Returns the part's message id, or the error that stopped the
        message."""
        refusals = refused
        while True:
            if self.rate.pacing:
                await self.rate.take()
            if self._budget is not None:
                await self._budget.take()
            if not held:
                picked = self._pool.pick()
                if picked is None:
                    return not_bound(self.name)
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
