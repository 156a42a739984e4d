"""What each hand-off's outcome makes of its message (DESIGN "Delivery contract").

- sent: the operator's id, what the message cost upstream (the connector's word, else its
  cost table's), the time to ask about a missing report, and the end of the receipt window
  (then the message ends ``expired``/``no_report``);
- never handed off (``Handoff.NOT_SENT``): back to waiting without using an attempt. It goes
  to the next connector of its route at once when one is usable and has not had it yet
  (failover), else it is looked at again after a pause that grows with the time it has
  waited; its validity ends it;
- refused: an attempt. A final refusal is final for that connector only: the message goes to
  the next candidate, and fails with the last error once every candidate refused it. A
  retryable refusal moves it on too, and brings it back to that connector after the others
  (with backoff once none is left untried), while attempts remain;
- in doubt: back to waiting for the link's grace period, during which a late answer is
  recorded as sent; then resent (``in_doubt = "resend"``) or failed (``"fail"``), per link.

A message in doubt, or one whose long-message parts were partly taken, never moves to
another connector: it is pinned to the one it was written to (``Claim.pinned``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from textgate.config import DispatchSettings
from textgate.connectors.base import Connector, Outcome, QueryableConnector
from textgate.core.failover import Tried, fresh
from textgate.core.routing import RoutingTable
from textgate.dispatch.links import LinkWatch
from textgate.dispatch.recorder import Recorder
from textgate.dispatch.retry import backoff_ms
from textgate.errors import ConnectorError, Handoff
from textgate.storage.queue import Claim, Doubt, Failure, LateSent, Retry, Sent, Wait

__all__ = ["SENT_OK", "DispatchStats", "LinkCounts", "LinkPolicy", "Settler"]

SENT_OK = "ok"
"""The status counted for a hand-off the far end took."""


class LinkCounts(Protocol):
    """Where each hand-off's outcome is counted for metrics (``observability.counts``):
    ``result`` is ``sent`` or the :class:`Handoff` of the error, ``status`` the error code
    (an SMPP refusal's command_status name) or :data:`SENT_OK`."""

    def link_result(self, connector: str, result: str, status: str) -> None: ...


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    """What a connector's owner chose for messages in doubt and for missing reports."""

    in_doubt: str = "resend"
    """"resend": after the grace period, send again (at least once; the handset may get
    it twice). "fail": end it ``failed`` (at most once; it may have gone out)."""
    in_doubt_grace_ms: int = 60_000
    """How long a late answer is waited for before the policy applies."""
    receipt_window_ms: int = 172_800_000
    """A sent message with no final report this long after sending ends ``expired``."""


@dataclass
class DispatchStats:
    """Counters for /metrics."""

    in_doubt: int = 0
    late_answers: int = 0
    late_too_late: int = 0
    waits: int = 0
    failovers: int = 0
    """Hand-offs moved at once to another connector after one did not take them."""


class Settler:
    def __init__(
        self,
        recorder: Recorder,
        watch: LinkWatch,
        table: Callable[[], RoutingTable],
        settings: DispatchSettings,
        clock: Callable[[], int],
        rng: random.Random,
        stats: DispatchStats,
        counts: LinkCounts | None = None,
    ) -> None:
        self._recorder = recorder
        self._watch = watch
        self._table = table
        self._settings = settings
        self._clock = clock
        self._rng = rng
        self._counts = counts
        self.stats = stats
        self._query_after: dict[int, tuple[Connector, int | None]] = {}

    def settle(
        self,
        name: str,
        policy: LinkPolicy,
        connector: Connector | None,
        claim: Claim,
        outcome: Outcome,
    ) -> None:
        now = self._clock()
        error = outcome.error
        if self._counts is not None:
            if error is None:
                self._counts.link_result(name, "sent", SENT_OK)
            else:
                self._counts.link_result(name, error.handoff.value, error.code)
        # A try that sent nothing keeps the note of the one before (parts already taken).
        progress = outcome.progress if outcome.progress is not None else claim.resume
        if error is None:
            self._watch.handed(name, ok=True)
            check, due = self.report_times(policy, connector, now)
            cost = outcome.cost
            if cost is None:
                cost = self._table().cost(name, claim.recipient, claim.country, claim.segments)
            sent = Sent(claim, name, outcome.external_id or "", check, due, cost)
            self._recorder.sent(sent)
            return
        # Parts taken, or maybe all of it: it stays with this connector.
        pinned = claim.pinned or bool(outcome.progress)
        if error.handoff is Handoff.NOT_SENT and not claim.in_doubt:
            self._not_sent(name, claim, error, progress, pinned, now)
            return
        if connector is not None and error.handoff is not Handoff.NOT_SENT:
            self._watch.handed(name, ok=False)  # refused, or written and unanswered
        if error.handoff is not Handoff.REFUSED:
            # In doubt (or a message already in doubt that could not be sent again now).
            if error.handoff is Handoff.IN_DOUBT:
                self.stats.in_doubt += 1
            grace = policy.in_doubt_grace_ms if error.handoff is Handoff.IN_DOUBT else 0
            at = now + max(grace, self.wait_ms(claim, now))
            self._recorder.doubt(Doubt(claim, at, error.message, progress, name))
            return
        self._refused(name, claim, error, progress, pinned, now)

    def _not_sent(
        self,
        name: str,
        claim: Claim,
        error: ConnectorError,
        progress: str | None,
        pinned: bool,
        now: int,
    ) -> None:
        self.stats.waits += 1
        at = now + self.wait_ms(claim, now)
        tried = claim.tried
        if not pinned and not self._watch.standby(name):
            passed = Tried.parse(tried).passed_by(name)
            tried = passed.stored()
            if fresh(claim.candidates, passed, self._watch.unusable()) is not None:
                self.stats.failovers += 1
                at = now
        self._recorder.wait(Wait(claim, at, error.message, progress, name, tried))

    def _refused(
        self,
        name: str,
        claim: Claim,
        error: ConnectorError,
        progress: str | None,
        pinned: bool,
        now: int,
    ) -> None:
        tried = Tried.parse(claim.tried)
        if not pinned:
            tried = tried.passed_by(name) if error.retryable else tried.refused_by(name)
            if not tried.left(claim.candidates):
                reason = error.message
                if len(claim.candidates) > 1:
                    refusers = ", ".join(sorted(tried.refused))
                    reason = f"refused by every connector of its route ({refusers}); last: {reason}"
                self._fail(name, claim, error, reason, tried)
                return
        elif not error.retryable:
            self._fail(name, claim, error, error.message, tried)
            return
        if claim.attempts >= self._settings.max_attempts:
            reason = error.message
            if error.retryable:
                reason = f"refused {claim.attempts} times: {error.message}"
            self._fail(name, claim, error, reason, tried)
            return
        at = now + backoff_ms(
            claim.attempts,
            base_ms=self._settings.retry_base_seconds * 1000,
            max_ms=self._settings.retry_max_seconds * 1000,
            rng=self._rng,
        )
        if not pinned and fresh(claim.candidates, tried, self._watch.unusable()) is not None:
            self.stats.failovers += 1
            at = now
        retry = Retry(claim, at, error.code, error.message, progress, name, tried.stored())
        self._recorder.retry(retry)

    def _fail(
        self, name: str, claim: Claim, error: ConnectorError, reason: str, tried: Tried
    ) -> None:
        failure = Failure(
            claim, error.code, reason, name, refund=not claim.in_doubt, tried=tried.stored()
        )
        self._recorder.failure(failure)

    def late_sent(
        self, name: str, policy: LinkPolicy, connector: Connector, outcome: Outcome, claim: Claim
    ) -> LateSent:
        """An answer to a message already recorded in doubt."""
        check, due = self.report_times(policy, connector, self._clock())
        cost = outcome.cost
        if cost is None:
            cost = self._table().cost(name, claim.recipient, claim.country, claim.segments)
        ext = outcome.external_id or ""
        return LateSent(outcome.message_id, name, ext, check, due, cost, claim.route)

    def report_times(
        self, policy: LinkPolicy, connector: Connector | None, now: int
    ) -> tuple[int | None, int]:
        due = now + policy.receipt_window_ms
        query_after = self._query_after_ms(connector)
        if query_after is not None:
            return min(now + query_after, due), due
        return due, due

    def _query_after_ms(self, connector: Connector | None) -> int | None:
        # isinstance() against a runtime-checkable Protocol walks the protocol's members on
        # every call (about 70 us here); per message, that was a tenth of the gateway's CPU.
        if connector is None:
            return None
        key = id(connector)
        known = self._query_after.get(key)
        if known is None or known[0] is not connector:
            after = (
                connector.report_query_after_ms
                if isinstance(connector, QueryableConnector)
                else None
            )
            known = (connector, after)
            self._query_after[key] = known
        return known[1]

    def wait_ms(self, claim: Claim, now: int) -> int:
        """The pause before looking again at a message that could not be handed off: a
        tenth of how long it has waited, within the configured bounds, with jitter, so a
        long outage is not a busy loop and a short one costs little delay."""
        waited = max(0, now - claim.due_at)
        low = self._settings.wait_min_seconds * 1000
        high = self._settings.wait_max_seconds * 1000
        base = min(high, max(low, waited / 10))
        return int(base * (0.5 + self._rng.random() / 2))
