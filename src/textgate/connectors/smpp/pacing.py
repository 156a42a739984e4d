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

__all__ = ["AdaptiveRate", "Backpressure", "Clock", "Sleep", "TokenBucket"]

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
                if self.rate <= 0:
                    return  # the limit was lifted while we waited (AdaptiveRate)
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


_SHARE_WEIGHT: Final = 0.1
"""Weight of the newest answer in the moving share of throttled answers (about the last
ten answers count)."""
_LINK_THROTTLED: Final = 0.15
_EPISODE: Final = 10.0
"""Seconds without a cut after which the next throttling is a new spell."""
"""Share of throttled answers from which the link as a whole is taken to be throttled."""


class AdaptiveRate:
    """The connector's send rate, driven by the SMSC (additive increase, multiplicative
    decrease, as TCP does with its window).

    Until the SMSC first throttles us the rate is ``ceiling`` (``max_rate``; 0 = none). A
    throttling refusal (ESME_RTHROTTLED / ESME_RMSGQFUL, SMPP 3.4 5.1.3) pauses new
    submit_sm briefly (:class:`Backpressure`) and brings the rate down to just under what
    the SMSC took lately (at most half the refused rate); refusals of PDUs already on the
    wire count once (the epoch). Only a link that is throttled as a whole slows down: while most
    answers are acceptances, a refusal is taken to be about its destination. Every accepted
    PDU then raises the rate a little (back to where throttling began in about a hundred),
    up to the ceiling (none: the limit is
    dropped once it is far above what the link carries). The pace is a token bucket, so a
    pause is never followed by the whole window at once. (The increase is per accepted
    PDU, not per second as in TCP's per round trip: an SMSC answers each PDU, and a rate
    halved too far would otherwise take minutes to come back.)
    """

    def __init__(
        self,
        ceiling: float,
        burst: float,
        *,
        floor: float,
        pause_initial: float,
        pause_max: float,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.ceiling = ceiling
        self.floor = max(0.1, floor)
        self._clock = clock
        self.bucket = TokenBucket(ceiling, burst, clock=clock, sleep=sleep)
        self.pause = Backpressure(pause_initial, pause_max, clock=clock, sleep=sleep)
        self._step = 1.0
        self._cut_at = -_EPISODE - 1.0
        self._spell_floor = 0.0
        self._grown_at = clock()
        self._sends = _Meter(clock())
        self._accepts = _Meter(clock())
        self._share = 0.0
        """Moving share of throttled answers among the latest ones."""
        self.throttled_total = 0

    @property
    def epoch(self) -> int:
        return self.pause.epoch

    @property
    def limit(self) -> float:
        """The current rate limit (0: none)."""
        return self.bucket.rate

    @property
    def pacing(self) -> bool:
        """Whether sending has to wait for anything (a pause or a rate)."""
        return self.bucket.rate > 0 or self.pause.paused

    async def take(self) -> None:
        """Wait until one more submit_sm may go out."""
        if self.pause.paused:
            await self.pause.wait()
        if self.bucket.rate > 0:
            self._recover(self._clock())
            await self.bucket.take()

    def _recover(self, now: float) -> None:
        """The time-driven half of the increase: without news of throttling the rate
        climbs back by itself (by ``step`` a tenth of a second), also when too little is
        accepted to raise it (only messages to a throttled destination left)."""
        elapsed = now - self._grown_at
        self._grown_at = now
        rate = self.bucket.rate
        if rate <= 0 or elapsed <= 0 or (self.ceiling and rate >= self.ceiling):
            return
        rate += self._step * 10 * elapsed
        if self.ceiling:
            rate = min(rate, self.ceiling)
        self._set(rate)

    def sent(self) -> None:
        """One submit_sm is going out."""
        self._sends.add(self._clock())

    def throttled(self, epoch: int, *, again: bool = False) -> None:
        """The SMSC throttled a PDU sent at ``epoch``; ``again``: a PDU (or destination) it
        had throttled before, which does not count twice towards the share: a destination
        the SMSC always throttles would otherwise look like a throttled link."""
        self.throttled_total += 1
        if again:
            # Only news moves the rate: a repeat refusal says nothing about the link (and
            # while the rate is low, few acceptances come to wear the share down).
            return
        self._share += (1.0 - self._share) * _SHARE_WEIGHT
        if self._share < _LINK_THROTTLED:
            # A refusal now and then among acceptances is about that destination (some
            # SMSCs throttle per prefix), not the link: slowing everyone would not help.
            return
        fresh = epoch == self.pause.epoch
        self.pause.refused(epoch)
        if not fresh:
            return  # already slowed down for this burst of refusals
        now = self._clock()
        taken = self._accepts.rate(now)
        current = self.bucket.rate or self._sends.rate(now)
        # Just under what the SMSC took lately (it told us its rate by refusing the rest);
        # without acceptances to go by, half the rate that was refused.
        rate = 0.9 * taken if taken > 0 else current / 2
        rate = max(self.floor, min(rate, current / 2 if current else rate))
        if now - self._cut_at > _EPISODE:
            # The first cut of a throttling spell sets how far the spell may take us:
            # an SMSC that refuses a share of PDUs whatever the rate would otherwise
            # drive every link down to the floor.
            self._spell_floor = rate / 4
        rate = max(rate, self._spell_floor)
        self._cut_at = now
        # Back up to where throttling began in about 100 acceptances: probing for more
        # without sending a window's worth into the wall at once.
        self._step = max(0.1, (max(current, rate) - rate) / 100, rate / 200)
        self._grown_at = now
        self._set(rate)

    def accepted(self, epoch: int) -> None:
        """The SMSC took a PDU sent at ``epoch``."""
        now = self._clock()
        self._accepts.add(now)
        self._share -= self._share * _SHARE_WEIGHT
        self.pause.accepted(epoch)
        rate = self.bucket.rate
        if rate <= 0 or (self.ceiling and rate >= self.ceiling):
            return
        rate += self._step
        if self.ceiling:
            rate = min(rate, self.ceiling)
        elif rate > 4 * self._accepts.rate(now) and rate > 100:
            rate = 0.0  # far above what the link carries: no limit needed any more
        self._set(rate)

    def _set(self, rate: float) -> None:
        self.bucket.rate = rate
        self.bucket.burst = max(1.0, rate / 10) if rate > 0 else self.bucket.burst


class _Meter:
    """Events in about the last second: this second's count plus the part of the previous
    second's that the window still covers (a sliding-window counter). Dividing a young
    bucket's count by its few milliseconds instead would take 6 answers in 50 ms for 120/s,
    and a rate cut to that keeps throttling."""

    __slots__ = ("_count", "_previous", "_since")

    def __init__(self, now: float) -> None:
        self._since = now
        self._count = 0
        self._previous = 0

    def add(self, now: float) -> None:
        if now - self._since >= 1.0:
            self._roll(now)
        self._count += 1

    def rate(self, now: float) -> float:
        self._roll(now)
        return self._count + self._previous * max(0.0, 1.0 - (now - self._since))

    def _roll(self, now: float) -> None:
        elapsed = now - self._since
        if elapsed >= 1.0:
            self._previous = self._count if elapsed < 2.0 else 0
            self._count = 0
            self._since = now if elapsed >= 2.0 else self._since + 1.0
