"""How the SMSC simulator chooses its answer to a submit_sm: the throttling faults
(``throttle_every``, ``accept_rate``) first, then the behaviour for the destination
(:mod:`smsc_rules`: global options, overridden per destination prefix), narrowed by the
rule's ``at_part`` and ``times``.

:class:`smsc.Smsc` answers, counts and schedules receipts; this holds the state the choice
needs (a count of submit_sm, a token bucket, how often each rule was used) and the rules,
which :meth:`Smsc.set_rules` replaces while the simulator runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from textgate.connectors.smpp.constants import PduError
from textgate.connectors.smpp.pdus import SubmitSm
from textgate.connectors.smpp.shortmessage import ESM_UDHI, Concat, concat_from_tlvs, parse_udh
from textgate.connectors.smpp.smsc_options import SmscOptions
from textgate.connectors.smpp.smsc_rules import Behaviour, RuleBook, SmscRule

__all__ = ["SubmitPolicy"]


class SubmitPolicy:
    """The choice of answer to each submit_sm, for one simulator's ``options``."""

    def __init__(self, options: SmscOptions) -> None:
        self._options = options
        self._rules = options.rule_book()
        self._rule_hits: dict[int, int] = {}
        self._tokens = 1.0
        self._token_stamp = 0.0
        self._submit_count = 0

    def set_rules(self, rules: Sequence[SmscRule]) -> None:
        """Replace the per-destination rules; ``times`` counts start again."""
        self._rules = RuleBook(self._options.behaviour(), rules)
        self._rule_hits.clear()

    def throttles(self) -> bool:
        """Count one more submit_sm; True if it is answered ESME_RTHROTTLED whatever the
        rules say: every ``throttle_every``-th one, and one above ``accept_rate``."""
        self._submit_count += 1
        every = self._options.throttle_every
        if every and self._submit_count % every == 0:
            return True
        return not self._within_accept_rate()

    def behaviour(self, pdu: SubmitSm) -> Behaviour:
        """The rule for this submit_sm, or the defaults where its ``at_part`` or ``times``
        says it does not apply."""
        behaviour = self._rules.match(pdu.destination_addr)
        if behaviour.at_part is not None:
            concat = _concat(pdu)
            if concat is None or concat.seq != behaviour.at_part:
                return self._rules.default
        if behaviour.times is not None:
            hits = self._rule_hits.get(id(behaviour), 0)
            if hits >= behaviour.times:
                return self._rules.default
            self._rule_hits[id(behaviour)] = hits + 1
        return behaviour

    def _within_accept_rate(self) -> bool:
        """``accept_rate``: a token bucket over all links (a burst of a tenth of a
        second's worth); a submit_sm above it is throttled, as a carrier enforcing its
        contract rate does."""
        rate = self._options.accept_rate
        if rate <= 0:
            return True
        now = asyncio.get_running_loop().time()
        burst = max(1.0, rate / 10)
        self._tokens = min(burst, self._tokens + (now - self._token_stamp) * rate)
        self._token_stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


def _concat(pdu: SubmitSm) -> Concat | None:
    """The concatenation info of a submitted part: its UDH (esm_class UDHI, 5.2.12) or its
    sar_* TLVs (5.3.2.22-24); None for a one-part message or an unreadable UDH."""
    if pdu.esm_class & ESM_UDHI and pdu.short_message:
        try:
            return parse_udh(pdu.short_message)[1]
        except PduError:
            return None
    return concat_from_tlvs(pdu.tlvs)
