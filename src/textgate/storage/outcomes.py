"""The records the dispatch queue claims and stores (DESIGN "Delivery contract"): a
:class:`Claim`, and one record per kind of outcome (see ``storage.queue``)."""

from __future__ import annotations

from dataclasses import dataclass

from textgate.core.frozen import quick_init

__all__ = ["IN_DOUBT", "WAITING", "Claim", "Doubt", "Failure", "LateSent", "Retry", "Sent", "Wait"]

WAITING = "waiting"
"""error_code of a message waiting for a usable link (never handed off)."""
IN_DOUBT = "in_doubt"
"""error_code of a message written to a link that never answered."""


@quick_init
@dataclass(frozen=True, slots=True)
class Claim:
    id: str
    account_id: str
    recipient: str
    sender: str | None
    text: str
    encoding: str
    segments: int
    attempts: int
    """Attempts including this one; also the fencing token of this claim."""
    recovered: bool
    """The previous holder's lease expired (it crashed or hung): the message is in doubt."""
    quality: str | None = None
    """Quality class the client asked for (routing picks the connector by it)."""
    previous: str | None = None
    """The error_code it had when claimed (``in_doubt``: an earlier hand-off went unanswered)."""
    valid_until: int = 0
    """When waiting for a link ends (ms)."""
    due_at: int = 0
    """When it was first due (its schedule, else its submission)."""
    resume: str | None = None
    """The connector's note from an interrupted earlier try (``Outcome.progress``)."""
    country: str | None = None
    interface: str | None = None
    last_connector: str | None = None
    """The connector of the previous hand-off (where a message in doubt stays)."""
    tried: str | None = None
    """The connectors that did not take it so far (``core.failover.Tried``, stored form)."""
    last_route: str | None = None
    connector: str = ""
    """The connector this claim hands it to (chosen as it was claimed)."""
    route: str | None = None
    """The routing rule that chose ``connector``."""
    candidates: tuple[str, ...] = ()
    """Every connector of that route, best first (where failover may take it next)."""
    asked_until: int | None = None
    """The validity the client asked for (``messages.valid_until``), which connectors pass
    on to the operator; None when it asked for none (``valid_until`` is then the
    dispatcher's default, which is the gateway's business alone)."""

    def routed(self, connector: str, route: str | None, candidates: tuple[str, ...]) -> Claim:
        """This claim sent to ``connector`` by ``route`` (spelt out: ``dataclasses.replace``
        costs several times as much, once per message claimed)."""
        return Claim(
            self.id,
            self.account_id,
            self.recipient,
            self.sender,
            self.text,
            self.encoding,
            self.segments,
            self.attempts,
            self.recovered,
            self.quality,
            self.previous,
            self.valid_until,
            self.due_at,
            self.resume,
            self.country,
            self.interface,
            self.last_connector,
            self.tried,
            self.last_route,
            connector,
            route,
            candidates,
            self.asked_until,
        )

    @property
    def in_doubt(self) -> bool:
        """An earlier hand-off of this message may have reached the operator."""
        return self.recovered or self.previous == IN_DOUBT

    @property
    def pinned(self) -> bool:
        """It must go to :attr:`last_connector` again: an earlier hand-off may have reached
        the operator, or some parts of it did (DESIGN "Delivery contract")."""
        return self.last_connector is not None and (self.in_doubt or bool(self.resume))


@quick_init
@dataclass(frozen=True, slots=True)
class Sent:
    claim: Claim
    connector: str
    external_id: str
    report_check_at: int | None = None
    report_due_at: int | None = None
    cost: int | None = None
    """What it cost upstream (micro-credits), when known."""


@dataclass(frozen=True, slots=True)
class Retry:
    claim: Claim
    at: int
    error_code: str
    reason: str
    progress: str | None = None
    connector: str | None = None
    """The connector that refused it."""
    tried: str | None = None
    """The connectors that did not take it, this one included (stored form)."""


@dataclass(frozen=True, slots=True)
class Wait:
    claim: Claim
    at: int
    reason: str
    progress: str | None = None
    connector: str | None = None
    """The connector that did not take it."""
    tried: str | None = None


@dataclass(frozen=True, slots=True)
class Doubt:
    claim: Claim
    at: int
    reason: str
    progress: str | None = None
    connector: str | None = None
    """The connector it was written to (it stays with it)."""


@dataclass(frozen=True, slots=True)
class Failure:
    claim: Claim
    error_code: str
    reason: str
    connector: str | None = None
    refund: bool = True
    """False when the message may have reached the operator (in doubt)."""
    tried: str | None = None


@dataclass(frozen=True, slots=True)
class LateSent:
    """An answer that came after its message was recorded in doubt."""

    message_id: str
    connector: str
    external_id: str
    report_check_at: int | None = None
    report_due_at: int | None = None
    cost: int | None = None
    route: str | None = None
