"""What the webhook and mail senders share: polling loops and the retry schedule."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from textgate.config import QueueSettings
from textgate.core.clock import Clock
from textgate.core.webhooks import backoff_ms
from textgate.loops import LoopRegistry, stop_loop
from textgate.loops import Step as LoopStep
from textgate.storage.outbox import QueueOutcome

__all__ = ["Pump", "Retries"]

Step = Callable[[], Awaitable[bool]]
"""One pass of a loop; True when it found work (the loop goes again at once)."""

_DAY_MS = 86_400_000


class Pump:
    """Runs steps in supervised loops until stopped, each pausing ``poll_seconds`` when idle.

    A failing step (the database restarting, a statement timeout) is retried with backoff
    by :func:`textgate.loops.run_loop`: the queue is in the database, so whatever failed is
    picked up by the next pass.
    """

    def __init__(self, poll_seconds: float, loops: LoopRegistry | None = None) -> None:
        self._poll = poll_seconds
        self._loops = loops or LoopRegistry()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, steps: dict[str, Step]) -> None:
        self._tasks = [self._loops.spawn(n, self._pass(s)) for n, s in steps.items()]

    async def stop(self) -> None:
        for task in self._tasks:
            await stop_loop(task)
        self._tasks = []

    def _pass(self, step: Step) -> LoopStep:
        async def one() -> None:
            if not await step():
                await asyncio.sleep(self._poll)

        return one


class Retries:
    """Turns one attempt's result into the queue's outcome: done, retry later, or dead."""

    def __init__(self, settings: QueueSettings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._random = random.Random()
        self._next_purge = 0

    def outcome(
        self, row_id: str, attempts: int, error: str | None, *, permanent: bool = False
    ) -> QueueOutcome:
        s = self._settings
        if error is None:
            return QueueOutcome(row_id, attempts, None)
        if permanent or attempts >= s.max_attempts:
            return QueueOutcome(row_id, attempts, error, None)
        delay = backoff_ms(
            attempts,
            base_ms=int(s.retry_base_seconds * 1000),
            max_ms=int(s.retry_max_seconds * 1000),
            jitter=self._random.random(),
        )
        return QueueOutcome(row_id, attempts, error, self._clock() + delay)

    def purge_due(self) -> int | None:
        """The cutoff for deleting finished rows, at most once an hour; else None."""
        now = self._clock()
        if now < self._next_purge:
            return None
        self._next_purge = now + 3_600_000
        return now - int(self._settings.retention_days * _DAY_MS)
