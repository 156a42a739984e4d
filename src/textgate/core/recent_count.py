"""How many events happened lately: a count over a sliding span of time, for rates shown to
operators (an SMPP bind's submits per second).

The span is cut into a few slots, each counting the events of its own stretch of time; the
count is the sum of the slots still inside the span. An event costs one addition (and, when
a new slot begins, clearing the slots it skips), whatever the rate; nothing is kept per
event. The count covers the current slot and the ones before it: the last ``span_ms``, less
up to one slot's length of its oldest end.
"""

from __future__ import annotations

__all__ = ["RecentCount"]


class RecentCount:
    """Events in about the last ``span_ms`` milliseconds, in ``slots`` slots."""

    __slots__ = ("_counts", "_head", "_slot_ms", "span_ms")

    def __init__(self, span_ms: int = 60_000, slots: int = 12) -> None:
        if slots < 1 or span_ms < slots:
            raise ValueError("a span needs at least one slot of at least 1 ms")
        self.span_ms = span_ms
        self._slot_ms = span_ms // slots
        self._counts = [0] * slots
        self._head = 0
        """The number (time // slot length) of the newest slot counted into."""

    def add(self, now_ms: int, n: int = 1) -> None:
        self._counts[self._move_to(now_ms)] += n

    def count(self, now_ms: int) -> int:
        self._move_to(now_ms)
        return sum(self._counts)

    def _move_to(self, now_ms: int) -> int:
        """The index of the slot ``now_ms`` falls in, once the slots that ended are cleared.
        A clock that went back counts into the newest slot."""
        slot = now_ms // self._slot_ms
        size = len(self._counts)
        if slot > self._head:
            for passed in range(max(self._head + 1, slot - size + 1), slot + 1):
                self._counts[passed % size] = 0
            self._head = slot
        return self._head % size
