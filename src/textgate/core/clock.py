"""Time as the gateway sees it: injectable so tests and simulations control it."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "from_ms", "system_clock", "to_ms"]

Clock = Callable[[], int]
"""Returns the current time in integer milliseconds since the Unix epoch."""


def system_clock() -> int:
    return int(time.time() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
