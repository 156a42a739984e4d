"""Delivery reports from connectors (DESIGN section 3, step 5).

Operators send reports one at a time (an SMPP deliver_sm each); writing each in its own
transaction would cap throughput at the database's commit rate. Reports are applied by
group commit: whatever arrived while the previous transaction was being written goes into
the next one (no fixed delay, which would cap an SMSC's window of outstanding receipts at
window / delay). A connector's call returns only once its reports are committed, so a
connector acknowledges to its operator only what is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from textgate.core.clock import Clock, system_clock
from textgate.core.message import DeliveryReport
from textgate.storage.queue import DispatchQueue

__all__ = ["ReportReceiver"]

log = logging.getLogger(__name__)


class ReportReceiver:
    """The sink connectors hand their reports to."""

    def __init__(
        self,
        queue: DispatchQueue,
        clock: Clock = system_clock,
    ) -> None:
        self._queue = queue
        self._clock = clock
        self._pending: list[DeliveryReport] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None

    def __call__(self, reports: Sequence[DeliveryReport]) -> asyncio.Future[None]:
        """Queue reports for the next commit; the future completes once they are stored.

        A plain function returning the future (an awaitable, as ReportSink asks) so that a
        connector can chain its answer to the commit without a coroutine per report.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not reports:
            done.set_result(None)
            return done
        self._pending.extend(reports)
        self._waiters.append(done)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())
        return done

    async def _flush_soon(self) -> None:
        while self._pending:
            # Let the callers that are already runnable add theirs (one loop turn), then
            # write everything pending; later arrivals wait for the next transaction.
            await asyncio.sleep(0)
            reports, self._pending = self._pending, []
            waiters, self._waiters = self._waiters, []
            try:
                await self._queue.apply_reports(reports, self._clock())
            except Exception as exc:
                log.exception("applying %d delivery reports failed", len(reports))
                for w in waiters:
                    if not w.done():
                        w.set_exception(exc)
                continue
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    async def close(self) -> None:
        """Flush what is pending."""
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
