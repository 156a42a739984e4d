"""A counting semaphore for the session's request windows (SMPP 3.4 2.5: a window is the
number of requests a side may have outstanding).

asyncio.Semaphore would do, but its release walks the waiters and each woken waiter removes
itself from the middle of a deque; with more callers waiting than the window holds (the
dispatcher's normal state) that cost is paid on every response. Here a release hands its
slot straight to the oldest live waiter.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Window"]


class Window:
    """``size`` slots, first come first served. Must be used inside one event loop."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a window needs at least one slot")
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Callers blocked in :meth:`acquire` (cancelled ones may still be counted)."""
        return len(self._waiters)

    def try_acquire(self) -> bool:
        """Take a slot if one is free now (never overtaking a waiter)."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot was handed over as we were cancelled: pass it on
            raise

    def release(self) -> None:
        waiters = self._waiters
        while waiters:
            future = waiters.popleft()
            if not future.done():  # skip waiters cancelled while queued
                future.set_result(None)
                return
        self._free += 1
