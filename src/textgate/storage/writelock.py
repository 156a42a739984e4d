"""The SQLite write turn: one writer at a time, submits first, background work not starved.

SQLite has one writer. Two kinds of transactions want it: storing orders, which clients
are waiting on, and background work (claiming, recording, reports), which nobody waits on
directly. Under a burst, taking turns strictly in arrival order halves how fast orders are
acknowledged; giving orders strict priority would stop delivery for as long as the burst
lasts. The lock grants up to ``ratio`` urgent turns for each background turn while both
are waiting.

A third kind goes before both: what an operator link waits for (delivery reports, inbound
messages). An SMSC has a window of such requests outstanding and gets its answers only once
they are stored, so their commit latency divides its throughput: behind a queue of order
writes and thousand-message claims, receipts came back at a fifth of the rate they did
alone. They are small, and bounded by the links' windows, so they cannot starve the rest.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator

__all__ = ["WriteTurn"]


class WriteTurn:
    def __init__(self, ratio: int = 4) -> None:
        self._ratio = ratio
        self._busy = False
        self._link: collections.deque[asyncio.Future[None]] = collections.deque()
        self._urgent: collections.deque[asyncio.Future[None]] = collections.deque()
        self._background: collections.deque[asyncio.Future[None]] = collections.deque()
        self._urgent_streak = 0

    @property
    def waiting(self) -> int:
        """Writers queued for the turn (for metrics and tests)."""
        return len(self._link) + len(self._urgent) + len(self._background)

    @contextlib.asynccontextmanager
    async def hold(self, *, urgent: bool, link: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent, link)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool, link: bool = False) -> None:
        if not self._busy and not self._link and not self._urgent and not self._background:
            self._busy = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._link if link else self._urgent if urgent else self._background
        queue.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release()  # granted just as we were cancelled: pass the turn on
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(fut)
            raise

    def _release(self) -> None:
        nxt = self._next()
        if nxt is None:
            self._busy = False
        else:
            nxt.set_result(None)

    def _next(self) -> asyncio.Future[None] | None:
        while self._link:
            fut = self._link.popleft()
            if not fut.done():
                return fut
        while self._urgent or self._background:
            take_background = bool(self._background) and (
                not self._urgent or self._urgent_streak >= self._ratio
            )
            queue = self._background if take_background else self._urgent
            fut = queue.popleft()
            if fut.done():
                continue  # cancelled while waiting
            self._urgent_streak = 0 if take_background else self._urgent_streak + 1
            return fut
        return None
