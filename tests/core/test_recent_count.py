"""RecentCount: events within the span are counted, older ones drop out slot by slot."""

from __future__ import annotations

import pytest

from textgate.core.recent_count import RecentCount

T0 = 1_700_000_000_000  # a slot boundary: 5 s slots divide it


@pytest.mark.parametrize(
    ("events", "now", "expected"),
    [
        ((), T0, 0),
        ((T0, T0, T0 + 4_999), T0 + 4_999, 3),
        # Up to the span less one slot is always counted ...
        ((T0,), T0 + 54_999, 1),
        ((T0,), T0 + 59_999, 1),
        # ... and nothing older than the span.
        ((T0,), T0 + 60_000, 0),
        ((T0, T0 + 30_000, T0 + 59_000), T0 + 60_000, 2),
        ((T0, T0 + 30_000, T0 + 59_000), T0 + 90_000, 1),
        ((T0, T0 + 30_000, T0 + 59_000), T0 + 3_600_000, 0),
        # A clock that steps back counts into the newest slot.
        ((T0 + 10_000, T0), T0 + 10_000, 2),
    ],
    ids=[
        "nothing",
        "one slot",
        "eleven slots on",
        "last moment of the span",
        "a span on",
        "the oldest of three gone",
        "two of three gone",
        "an hour on",
        "clock stepped back",
    ],
)
def test_recent_count(events: tuple[int, ...], now: int, expected: int) -> None:
    count = RecentCount(span_ms=60_000, slots=12)
    for at in events:
        count.add(at)
    assert count.count(now) == expected


def test_a_quiet_span_between_bursts() -> None:
    count = RecentCount(span_ms=60_000, slots=12)
    count.add(T0, 5)
    assert count.count(T0 + 120_000) == 0
    count.add(T0 + 120_000, 2)
    assert count.count(T0 + 125_000) == 2


def test_refuses_a_span_without_slots() -> None:
    with pytest.raises(ValueError):
        RecentCount(span_ms=60_000, slots=0)
