"""What the webhook and mail senders share: polling loops and the retry schedule."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

from textgate.config import QueueSettings
from textgate.core.clock import Clock
from textgate.core.webhooks import backoff_ms
from textgate.storage.outbox import QueueOutcome

__all__ = ["Pump", "Retries"]

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[bool]]
"""One pass of a loop; True when it found work (the loop goes again at once)."""

_DAY_MS = 86_400_000


class Pump:
    """Runs steps in loops until stopped, each pausing ``poll_seconds`` when idle."""

    def __init__(self, poll_seconds: float) -> None:
        self._poll = poll_seconds
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    def start(self, steps: dict[str, Step]) -> None:
        self._tasks = [asyncio.create_task(self._loop(n, s), name=n) for n, s in steps.items()]

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self, name: str, step: Step) -> None:
        while not self._stopping.is_set():
            busy = False
            try:
                busy = await step()
            except Exception:
                # The queue is in the database: whatever failed is picked up next time.
                log.exception("%s pass failed", name)
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._poll)


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
