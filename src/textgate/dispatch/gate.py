"""The dispatcher's side of a link's window: written messages whose outcome is not stored.

An SMPP window bounds the PDUs waiting for an answer; it says nothing of answers waiting for
their commit. If the database falls behind the link (a busy disk, a slow commit), answered
messages pile up in memory, and a crash then forgets they were taken: the next process sends
them again. The gate closes that gap: a connector enters it before writing a message, and
the message leaves it only once its outcome is committed (:class:`Recorder`). With the
gate's size equal to the link's window, a crash can leave at most a window of messages the
operator may have taken unknown to textgate, and a stalled database stops new hand-offs
rather than risking more (DESIGN "Delivery contract").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable

__all__ = ["Gate"]


class Gate:
    """At most ``size`` messages inside at once, first come first served."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a gate needs at least one place")
        self.size = size
        self._inside: set[str] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def inside(self) -> int:
        return len(self._inside)

    async def enter(self, message_id: str) -> None:
        if message_id in self._inside:
            return  # a message handed over again (its later parts) keeps its place
        while len(self._inside) >= self.size:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            try:
                await future
            except asyncio.CancelledError:
                self.leave(())  # a wake-up meant for us goes to the next in line
                raise
            finally:
                self._forget(future)
        self._inside.add(message_id)

    def leave(self, message_ids: Iterable[str]) -> None:
        """These messages' outcomes are stored: let as many waiters in."""
        inside = self._inside
        for message_id in message_ids:
            inside.discard(message_id)
        free = self.size - len(inside)
        for future in self._waiters:
            if free <= 0:
                break
            if not future.done():
                future.set_result(None)
                free -= 1

    def _forget(self, future: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):  # already handed its wake-up
            self._waiters.remove(future)
