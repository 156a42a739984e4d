"""Which of its route's connectors a message is handed to next (DESIGN "Delivery contract").

A message moves to another connector only when the last one never took it: it answered
*not sent* (link down, throttled before sending) or *refused* it. A final refusal is final
for that connector alone: the message is never offered to it again, and fails with the last
error once every candidate has refused it. A connector that did not take it for now (not
sent, or refused with a retryable error) is tried again once the others have had their turn.
A message in doubt, or one whose long-message parts were partly taken, is pinned to the
connector it was written to and never moves (the dispatcher sees to that).

:class:`Tried` is what a message remembers of this between tries (stored with it);
:func:`pick` orders the candidates:

1. usable connectors not tried yet, in the route's order;
2. usable connectors that did not take it for now, the longest ago first;
3. then the same two groups among the connectors that are unusable (link down, or refusing
   too much lately): skipped while a usable one remains, tried rather than none.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass

__all__ = ["Tried", "fresh", "pick"]


@dataclass(frozen=True, slots=True)
class Tried:
    """The connectors a message was offered to without being taken."""

    refused: frozenset[str] = frozenset()
    """Refused it for good: never offered it again."""
    passed: tuple[str, ...] = ()
    """Did not take it for now (not sent, or a retryable refusal), the longest ago first."""

    @classmethod
    def parse(cls, stored: str | None) -> Tried:
        """From the stored form; an unreadable one counts as nothing tried."""
        if not stored:
            return _NOTHING
        try:
            data = json.loads(stored)
            return cls(frozenset(data.get("refused", ())), tuple(data.get("passed", ())))
        except (ValueError, TypeError, AttributeError):
            return _NOTHING

    def stored(self) -> str | None:
        if not self.refused and not self.passed:
            return None
        data: dict[str, list[str]] = {}
        if self.passed:
            data["passed"] = list(self.passed)
        if self.refused:
            data["refused"] = sorted(self.refused)
        return json.dumps(data, separators=(",", ":"))

    def refused_by(self, name: str) -> Tried:
        return Tried(self.refused | {name}, tuple(n for n in self.passed if n != name))

    def passed_by(self, name: str) -> Tried:
        """``name`` did not take it now: it goes to the end of the line."""
        return Tried(self.refused, (*(n for n in self.passed if n != name), name))

    def left(self, candidates: Sequence[str]) -> list[str]:
        """The candidates that have not refused it."""
        return [c for c in candidates if c not in self.refused]


_NOTHING = Tried()


def pick(candidates: Sequence[str], tried: Tried, unusable: Collection[str]) -> str | None:
    """The connector to hand the message to next; None when every candidate refused it."""
    if not tried.refused and not tried.passed and not unusable:
        return candidates[0] if candidates else None
    order = {name: i for i, name in enumerate(tried.passed)}
    best: str | None = None
    best_key = (4, 0)
    for index, name in enumerate(candidates):
        if name in tried.refused:
            continue
        late = order.get(name)
        tier = (2 if name in unusable else 0) + (0 if late is None else 1)
        key = (tier, index if late is None else late)
        if key < best_key:
            best, best_key = name, key
    return best


def fresh(candidates: Sequence[str], tried: Tried, unusable: Collection[str]) -> str | None:
    """The first usable candidate the message was not offered to yet, if any: the one it
    may go to at once after a connector did not take it."""
    for name in candidates:
        if name not in unusable and name not in tried.refused and name not in tried.passed:
            return name
    return None
