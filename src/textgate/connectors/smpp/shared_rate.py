"""``max_rate`` for a whole cluster: a rate budget that processes share through a ledger.

A carrier's or a provider's rate limit is the account's, not one process's (an SMPP
connector's submit_sm and an HTTP connector's requests alike). :class:`SharedRate` takes the
right to send from a :class:`RateLedger` (the database, in practice) that counts submit_sm
per *slot*: a slot lasts ``slot_ms`` and allows ``per_slot`` (the burst; the slot length is
what makes that the rate). A process reserves up to half a slot at a time, so two busy
processes share a slot, and spends what it got within that slot only: what is left when the
slot ends is dropped, never carried over, so every slot stays within its budget whoever
sends. The ledger is asked at most about twice per slot, whatever the traffic.

A ledger that fails (or answers too slowly) must not fail messages: the process falls back
to a local bucket at ``rate / peers`` (its share, from the processes it knows of) and asks
the ledger again every few seconds. It says so once per outage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final, Protocol

from textgate.connectors.smpp.pacing import Clock, Sleep, TokenBucket

__all__ = ["RateBudget", "RateLedger", "SharedRate"]

log = logging.getLogger(__name__)

_LEDGER_TIMEOUT: Final = 1.0
"""Seconds a reservation may take before the local fallback is used instead."""
_RETRY_AFTER: Final = 5.0
"""Seconds on the fallback before the ledger is asked again."""


class RateBudget(Protocol):
    """Something that lets one more submit_sm (or provider request) go when it returns."""

    async def take(self) -> None: ...


class RateLedger(Protocol):
    async def reserve(
        self, connector: str, want: int, per_slot: int, slot_ms: float
    ) -> tuple[int, float]:
        """Take up to ``want`` of the ``per_slot`` allowed in the current slot (slots of
        ``slot_ms`` on a clock every process shares); return (granted, ms left in it)."""
        ...


class SharedRate:
    """A :class:`RateBudget` of ``rate`` per second over all processes (see the module
    docstring); ``peers`` tells how many processes send for this connector now."""

    def __init__(
        self,
        name: str,
        ledger: RateLedger,
        rate: float,
        burst: float,
        *,
        peers: Callable[[], int] = lambda: 2,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("a shared rate needs a rate")
        self.name = name
        self.rate = rate
        self.per_slot = max(1, int(burst))
        self.slot_ms = 1000.0 * self.per_slot / rate
        self.chunk = max(1, -(-self.per_slot // 2))
        self._ledger = ledger
        self.peers = peers
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._tokens = 0
        self._until = 0.0
        """When the slot of the tokens in hand ends (local clock)."""
        self._next = 0.0
        """Do not ask before this: the slot is spent."""
        self._fallback: TokenBucket | None = None
        self._retry_at = 0.0
        self.reservations = 0
        """Ledger round trips made (for tests and metrics)."""

    @property
    def degraded(self) -> bool:
        """True while the ledger failed and the local share is used instead."""
        return self._fallback is not None

    async def take(self) -> None:
        async with self._lock:  # FIFO: one reservation at a time serves every waiter
            while True:
                now = self._clock()
                if self._fallback is not None and now < self._retry_at:
                    await self._fallback.take()
                    return
                if self._tokens > 0 and now < self._until:
                    self._tokens -= 1
                    return
                if now < self._next:
                    await self._sleep(self._next - now)
                    continue
                await self._reserve(now)

    async def _reserve(self, asked_at: float) -> None:
        try:
            async with asyncio.timeout(_LEDGER_TIMEOUT):
                granted, left_ms = await self._ledger.reserve(
                    self.name, self.chunk, self.per_slot, self.slot_ms
                )
        except Exception as exc:  # the database is down or slow: never fail a message
            self._degrade(exc)
            return
        self.reservations += 1
        if self._fallback is not None:
            self._fallback = None
            log.info("connector %s: shared rate budget reachable again", self.name)
        # Counted from when we asked: the slot cannot end later than that says.
        self._until = asked_at + left_ms / 1000.0
        self._tokens = granted
        if granted < self.chunk:  # the slot is spent: nothing more before the next one
            self._next = self._until

    def _degrade(self, exc: BaseException) -> None:
        self._retry_at = self._clock() + _RETRY_AFTER
        if self._fallback is not None:
            return
        share = max(1, self.peers())
        self._fallback = TokenBucket(
            self.rate / share,
            max(1.0, self.per_slot / share),
            clock=self._clock,
            sleep=self._sleep,
        )
        log.warning(
            "connector %s: shared rate budget unavailable (%s); sending at %.1f/s (a %d-way share)"
            " until it is back",
            self.name,
            type(exc).__name__,
            self.rate / share,
            share,
        )
