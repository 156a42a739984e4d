"""The contract between the dispatcher and the links that reach operators.

A connector knows its wire protocol and nothing of accounts or storage. The dispatcher hands
it batches of :class:`Submission` and records the :class:`Outcome` of each *as it arrives*
(the ``done`` callback of ``submit``): a batch is a convenience for the wire, never a unit
of outcome or of time. Each hand-off (one PDU, one phone placement) has its own time limit,
inside the connector; a failure says how far the message got (``ConnectorError.handoff``:
never sent, refused, or in doubt). Delivery reports
flow back through the :data:`ReportSink` given to ``start``, and inbound (mobile-originated)
messages through the :data:`InboundSink`. A connector acknowledges a report or an inbound
message to its peer only after the sink returned: the sinks store before they return.
Only the dispatcher decides whether to retry, from ``ConnectorError.retryable``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from textgate.core.frozen import quick_init
from textgate.core.inbound import Concatenation, InboundMessage
from textgate.core.message import DeliveryReport
from textgate.errors import ConnectorError

__all__ = [
    "Concatenation",
    "Connector",
    "ConnectorError",
    "HandoffGate",
    "InboundMessage",
    "InboundSink",
    "Outcome",
    "OutcomeSink",
    "QueryRef",
    "QueryableConnector",
    "ReportSink",
    "Submission",
]


ReportSink = Callable[[Sequence[DeliveryReport]], Awaitable[None]]
InboundSink = Callable[[Sequence[InboundMessage]], Awaitable[None]]
OutcomeSink = Callable[["Outcome"], None]
"""Hears one message's outcome as soon as the connector knows it (must not block)."""


@quick_init
@dataclass(frozen=True, slots=True)
class Submission:
    """One message as a connector sees it: no account, no policy, just what to send."""

    message_id: str
    recipient: str
    sender: str | None
    text: str
    encoding: str
    segments: int
    resume: str | None = None
    """The connector's own note from an earlier try (:attr:`Outcome.progress`): which
    parts of a long message the operator already took, under which reference."""
    valid_until: int | None = None
    """When the validity the client asked for ends (ms since the epoch): a connector whose
    operator can be told (SMPP validity_period) passes it on. None: the client asked for
    none, and the operator's own default applies there."""


@quick_init
@dataclass(frozen=True, slots=True)
class Outcome:
    """Either the operator's id for the message or the error that stopped it.

    ``progress`` (with an error) is what the connector needs to carry on where it stopped,
    opaque to everyone else: the dispatcher stores it and hands it back as
    :attr:`Submission.resume`, so a long message interrupted after some parts sends only
    the others, under the same concatenation reference.

    ``cost`` (with an external id) is what the operator says it charged for the message, all
    its parts together, in micro-credits (``core.pricing``'s unit), for connectors whose
    operator answers with a price; None lets the connector's cost table say
    (``[routing.costs]``)."""

    message_id: str
    external_id: str | None = None
    error: ConnectorError | None = None
    progress: str | None = None
    cost: int | None = None


class HandoffGate(Protocol):
    """Holds a message's hand-off until few enough written messages wait for their
    outcome to be stored (the dispatcher's side of the window). A connector calls
    ``enter`` before writing a message's first PDU; the dispatcher lets it go once that
    message's outcome is committed. So whatever a crash interrupts, the messages the
    operator may have taken without textgate knowing are at most the gate's size."""

    async def enter(self, message_id: str) -> None: ...


@runtime_checkable
class Connector(Protocol):
    name: str

    async def start(self, sink: ReportSink, inbound: InboundSink | None = None) -> None:
        """Open links; deliver every report that arrives from now on to ``sink`` and every
        inbound message to ``inbound`` (without one, inbound messages are refused with a
        temporary error so the peer keeps them)."""

    async def stop(self) -> None:
        """Close links gracefully (unbind, drain in-flight requests)."""

    async def submit(
        self,
        batch: Sequence[Submission],
        done: OutcomeSink | None = None,
        gate: HandoffGate | None = None,
    ) -> list[Outcome]:
        """Hand over a batch; one outcome per submission, in order.

        ``gate``, when given, is entered before each message is written (see
        :class:`HandoffGate`); a connector whose hand-off is instant may ignore it.

        ``done``, when given, is called with each outcome as soon as it is known (the
        dispatcher stores it then, so a crash cannot make an answered message be sent
        again); the returned list repeats them all. Raise ``ConnectorError`` when the
        whole batch failed the same way before any of it was handed over (link down).
        """
        ...


@dataclass(frozen=True, slots=True)
class QueryRef:
    """A sent message to ask about: the operator's id and the sender it went out with
    (SMPP's query_sm must repeat the source address, 4.8.1)."""

    external_id: str
    sender: str | None = None


@runtime_checkable
class QueryableConnector(Connector, Protocol):
    """A connector that can be asked for a message's state (SMPP query_sm and the like)."""

    report_query_after_ms: int

    async def query(self, refs: Sequence[QueryRef]) -> list[DeliveryReport]:
        """Reports for the messages whose state the operator knows; others are left out."""
        ...
