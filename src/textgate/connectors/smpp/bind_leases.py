"""``binds`` for a whole cluster: each bind is held by one process through a lease.

Several processes running the same connector must not open ``binds`` binds each: the
carrier counts binds per account. :class:`BindKeeper` renews this process's leases every
third of ``lease_seconds`` through :class:`BindLeases` (the database, in practice), binds
exactly the indexes it holds, and:

- takes free binds up to its share (``ceil(binds / processes)``): a crashed holder's come
  back once its lease runs out, a stopped holder's at once (it gives them back);
- gives back what is above its share when processes join (the bind stops taking new
  messages, its messages in flight are answered, it unbinds, *then* the lease goes), so
  every process that can hold a bind gets one;
- unbinds everything when it could not renew for most of a lease: before the lease runs out
  and another process may take those binds over. (A database outage stops claiming too.)

A process holding no bind of a connector stands by (:attr:`BindKeeper.standby`): the
dispatcher then claims nothing for it, rather than claiming messages only to give them back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection
from typing import Protocol

from textgate.connectors.smpp.links import LinkPool
from textgate.connectors.smpp.pacing import Clock
from textgate.loops import LoopRegistry

__all__ = ["BindKeeper", "BindLeases"]

log = logging.getLogger(__name__)


class BindLeases(Protocol):
    """One process's leases on one connector's binds."""

    async def hold(self, binds: int, ttl_ms: int) -> tuple[frozenset[int], int]:
        """Renew this process's leases and take free binds up to its share; return the
        indexes it holds and how many processes run the connector."""
        ...

    async def release(self, indexes: Collection[int]) -> None:
        """Give these binds back (already unbound)."""
        ...

    async def leave(self) -> None:
        """Give every bind back and stop counting as a process of the connector."""
        ...


class BindKeeper:
    def __init__(
        self,
        name: str,
        leases: BindLeases,
        pool: LinkPool,
        *,
        lease_seconds: float,
        unbind_timeout: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = name
        self._leases = leases
        self._pool = pool
        self.loops: LoopRegistry | None = None
        """Where the renewal's failures show (/readyz, metrics); set by the runtime."""
        pool.held = frozenset()  # none is ours before the first round says so
        self._binds = len(pool.links)
        self._ttl = lease_seconds
        # Unbind this long before the lease could run out, so the bind is closed before
        # anyone may take it over.
        self._margin = min(lease_seconds / 2, unbind_timeout + 1.0)
        self._clock = clock
        self._valid_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self._giving_back: asyncio.Task[None] | None = None
        self._failing = False
        self.members = 1
        """Processes running this connector, as last seen."""

    @property
    def standby(self) -> bool:
        """True while this process holds no bind of the connector."""
        return not self._pool.held

    @property
    def senders(self) -> int:
        """How many processes send for this connector (those that can hold a bind)."""
        return max(1, min(self.members, self._binds))

    async def start(self) -> None:
        """One round now (binding what it gets, as a connector without leases binds at
        start), then renew in the background."""
        await self._round(first=True)
        self._task = asyncio.create_task(self._run(), name=f"smpp-leases-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._giving_back is not None:
            self._giving_back.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._giving_back
        await self._pool.stop()
        try:  # the others need not wait for our leases to run out
            await self._leases.leave()
        except Exception as exc:
            log.warning("smpp %s: could not give the binds back (%s)", self.name, exc)

    async def _run(self) -> None:
        while True:
            pause = self._ttl / 3
            if self._failing:  # wake in time to unbind before the leases run out
                pause = max(0.05, min(pause, self._valid_until - self._clock()))
            await asyncio.sleep(pause)
            try:
                await self._round()
            except Exception:  # a bug must not end renewal while the binds stay up
                log.exception("smpp %s: lease round failed", self.name)

    async def _round(self, *, first: bool = False) -> None:
        asked_at = self._clock()
        try:
            async with asyncio.timeout(self._ttl / 3):
                held, members = await self._leases.hold(self._binds, int(self._ttl * 1000))
        except Exception as exc:
            if self.loops is not None:
                self.loops.failed(f"smpp-leases-{self.name}", exc)
            await self._lost(exc)
            return
        if self.loops is not None:
            self.loops.succeeded(f"smpp-leases-{self.name}")
        if self._failing:
            self._failing = False
            log.info("smpp %s: bind leases renewed again", self.name)
        self._valid_until = asked_at + self._ttl - self._margin
        self.members = members
        share = -(-self._binds // members)
        extra = frozenset(sorted(held)[share:])
        keep = held - extra
        if keep != self._pool.held - self._pool.retiring:
            log.info(
                "smpp %s: this process holds binds %s of %d (%d processes)",
                self.name,
                sorted(i + 1 for i in keep) or "none",
                self._binds,
                members,
            )
        # Binds whose lease is not ours any more close at once; extras drain first.
        await self._pool.hold(keep | (extra & self._pool.retiring), wait=first)
        if extra and (self._giving_back is None or self._giving_back.done()):
            self._giving_back = asyncio.create_task(self._give_back(extra))

    async def _give_back(self, indexes: frozenset[int]) -> None:
        """Drain and unbind binds above this process's share, then release their leases
        (in the background: draining waits for answers, renewal must not)."""
        try:
            await self._pool.retire(indexes)
            await self._leases.release(indexes)
        except Exception as exc:  # they run out instead
            log.warning("smpp %s: giving binds back failed: %r", self.name, exc)

    async def _lost(self, exc: BaseException) -> None:
        if not self._failing:
            self._failing = True
            log.warning("smpp %s: cannot renew the bind leases: %r", self.name, exc)
        if self._pool.held and self._clock() >= self._valid_until:
            log.warning("smpp %s: bind leases about to run out; unbinding", self.name)
            await self._pool.hold(frozenset())
