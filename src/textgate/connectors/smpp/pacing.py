"""How fast submit_sm may leave: a rate limit we set, and back-pressure the SMSC asks for.

- :class:`TokenBucket` caps submit_sm per second over all binds of a connector
  (``max_rate``), allowing a small burst after an idle spell. Waiters queue on a lock and
  the one at the head sleeps exactly until its token is due: no polling.
- :class:`Backpressure` pauses every new submit_sm after the SMSC answers ESME_RTHROTTLED
  (0x58) or ESME_RMSGQFUL (0x14) (SMPP 3.4 5.1.3). The pause doubles while refusals keep
  coming and falls back to the initial value after a success. Refusals of PDUs that were
  already on the wire when a pause began say nothing new, so they join that pause instead
  of stretching it: a window of 50 refusals is one signal, not 50.

Both take the clock and the sleep function as arguments so tests can run them on virtual
time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final

__all__ = ["Backpressure", "Clock", "Sleep", "TokenBucket"]

Clock = Callable[[], float]
"""Monotonic seconds."""

# Float rounding can leave a refill a hair short of a whole token (0.1 s * 10/s =
# 0.9999999999999998); waiting for that hair would be a sleep too short to move the clock.
_EPSILON: Final = 1e-9
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; rate 0 = no limit."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def take(self) -> None:
        """Wait for one token and spend it."""
        if self.rate <= 0:
            return
        async with self._lock:  # FIFO: the head waiter sleeps, the others wait on the lock
            while True:
                self._refill()
                if self._tokens >= 1 - _EPSILON:
                    self._tokens -= 1
                    return
                await self._sleep((1 - self._tokens) / self.rate)


class Backpressure:
    """The pause the SMSC asked for. ``epoch`` counts pauses; read it before sending and
    hand it back with the answer, so a late refusal does not escalate a newer pause."""

    def __init__(
        self,
        initial: float,
        maximum: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self._clock = clock
        self._sleep = sleep
        self._delay = 0.0
        self._until = 0.0
        self.epoch = 0

    @property
    def paused(self) -> bool:
        return self._until > self._clock()

    @property
    def delay(self) -> float:
        """The current pause length (0 when the SMSC has not throttled us lately)."""
        return self._delay

    async def wait(self) -> None:
        """Return once no pause is in force (a pause may be extended while we sleep)."""
        while (left := self._until - self._clock()) > 0:
            await self._sleep(left)

    def refused(self, epoch: int) -> None:
        """The SMSC throttled a PDU sent at ``epoch``."""
        now = self._clock()
        if epoch == self.epoch:
            # Sent after the last pause (or with none yet): throttling goes on, back off more.
            self._delay = min(self._delay * 2, self.maximum) if self._delay else self.initial
            self._until = now + self._delay
            self.epoch += 1
        elif self._until <= now:
            # Sent before the last pause but answered after it ended: pause again, as long.
            self._until = now + max(self._delay, self.initial)

    def accepted(self, epoch: int) -> None:
        """The SMSC took a PDU sent at ``epoch``: throttling is over."""
        if epoch == self.epoch:
            self._delay = 0.0
