"""Group commit of outcomes: each one is stored as soon as the previous commit has ended.

Connectors report outcomes one message at a time (DESIGN "Delivery contract"). Writing each
in its own transaction would cost a commit per message; waiting for a whole batch would let
a crash resend what the operator already took. The recorder takes the middle road: outcomes
collect while a commit is in progress and the next commit takes all of them, so under load a
commit carries hundreds of outcomes and at idle each one is written at once. After a crash
at most the outcomes of one commit in progress, plus those on the wire, are lost.

A failing database does not lose outcomes: they stay queued and the commit is retried with
backoff (the leases are renewed meanwhile, so nobody else claims the messages).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from textgate.storage.queue import DispatchQueue, Doubt, Failure, LateSent, Retry, Sent, Wait

__all__ = ["Recorder"]

log = logging.getLogger(__name__)

_RETRY_MIN = 0.1
_RETRY_MAX = 5.0


@dataclass
class _Pending:
    sent: list[Sent] = field(default_factory=list)
    retries: list[Retry] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    waits: list[Wait] = field(default_factory=list)
    doubts: list[Doubt] = field(default_factory=list)
    late: list[LateSent] = field(default_factory=list)

    def __len__(self) -> int:
        return (
            len(self.sent)
            + len(self.retries)
            + len(self.failures)
            + len(self.waits)
            + len(self.doubts)
            + len(self.late)
        )


class Recorder:
    def __init__(
        self,
        queue: DispatchQueue,
        clock: Callable[[], int],
        *,
        on_settled: Callable[[list[str]], None] | None = None,
        on_late: Callable[[int, int], None] | None = None,
    ) -> None:
        self._queue = queue
        self._clock = clock
        self._pending = _Pending()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._on_settled = on_settled
        self._on_late = on_late
        self.failing = False
        """True while commits fail (shown by /readyz through the dispatcher)."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dispatch-recorder")

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Store what is queued (while the database lets us, within ``timeout``), then stop.
        What could not be stored stays claimed: it comes back in doubt."""
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            log.error("stopping with %d outcomes not recorded", len(self._pending))
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def flush(self) -> None:
        """Wait until everything queued so far is stored."""
        while len(self._pending) or not self._idle.is_set():
            self._wake.set()
            await self._idle.wait()
            if self._task is None or self._task.done():
                return
            await asyncio.sleep(0)

    def _add(self) -> None:
        self._idle.clear()
        self._wake.set()

    def sent(self, item: Sent) -> None:
        self._pending.sent.append(item)
        self._add()

    def retry(self, item: Retry) -> None:
        self._pending.retries.append(item)
        self._add()

    def failure(self, item: Failure) -> None:
        self._pending.failures.append(item)
        self._add()

    def wait(self, item: Wait) -> None:
        self._pending.waits.append(item)
        self._add()

    def doubt(self, item: Doubt) -> None:
        self._pending.doubts.append(item)
        self._add()

    def late(self, item: LateSent) -> None:
        self._pending.late.append(item)
        self._add()

    async def _run(self) -> None:
        delay = _RETRY_MIN
        while True:
            if not len(self._pending):
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, self._pending = self._pending, _Pending()
            late, batch.late = batch.late, []
            try:
                if len(batch):
                    await self._store(batch)
                    batch = _Pending()
                if late:
                    await self._store_late(late)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Put back what was not stored, in front: nothing answered may be forgotten.
                batch.late = late
                self._requeue(batch)
                if not self.failing:
                    log.exception("recording dispatch outcomes failed; retrying")
                self.failing = True
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, _RETRY_MAX)
                continue
            if self.failing:
                log.info("recording dispatch outcomes works again")
            self.failing = False
            delay = _RETRY_MIN

    async def _store(self, batch: _Pending) -> None:
        await self._queue.record(
            now=self._clock(),
            sent=batch.sent,
            retries=batch.retries,
            failures=batch.failures,
            waits=batch.waits,
            doubts=batch.doubts,
        )
        if self._on_settled is not None:
            settled = [x.claim.id for x in batch.sent]
            settled += [x.claim.id for x in batch.retries]
            settled += [x.claim.id for x in batch.failures]
            settled += [x.claim.id for x in batch.waits]
            settled += [x.claim.id for x in batch.doubts]
            self._on_settled(settled)

    async def _store_late(self, late: list[LateSent]) -> None:
        applied = await self._queue.record_late(late, now=self._clock())
        if self._on_late is not None:
            self._on_late(applied, len(late) - applied)

    def _requeue(self, batch: _Pending) -> None:
        p = self._pending
        p.sent[:0] = batch.sent
        p.retries[:0] = batch.retries
        p.failures[:0] = batch.failures
        p.waits[:0] = batch.waits
        p.doubts[:0] = batch.doubts
        p.late[:0] = batch.late
