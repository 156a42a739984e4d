"""The dispatcher: claim due messages, hand them to connectors, record what happened.

One loop claims batches while fewer than ``concurrency`` batches are in flight; each batch
is submitted and its outcomes recorded in one transaction. Wake-ups come from the local
submit path (same process), from PostgreSQL NOTIFY (other processes), or from the poll
timer, whichever is first, so a scheduled message leaves within ``poll_seconds`` of its time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping, Sequence

from textgate.config import DispatchSettings
from textgate.connectors.base import Connector, Outcome, QueryableConnector, Submission
from textgate.core.clock import Clock, system_clock
from textgate.core.message import DeliveryReport
from textgate.core.routing import Routes
from textgate.dispatch.retry import backoff_ms
from textgate.errors import ConnectorError, GatewayError
from textgate.storage.queue import Claim, DispatchQueue, Failure, Retry, Sent

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        queue: DispatchQueue,
        connectors: Mapping[str, Connector],
        *,
        default_connector: str,
        settings: DispatchSettings,
        routes: Routes | None = None,
        clock: Clock = system_clock,
        rng: random.Random | None = None,
    ) -> None:
        self._queue = queue
        self._connectors = connectors
        self._routes = routes or Routes(default_connector)
        self._settings = settings
        self._clock = clock
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._stopping = False
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._inflight: dict[asyncio.Task[None], tuple[list[Claim], int]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        """Look for due messages now (new work was committed)."""
        self._wake.set()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="dispatch-claim"),
            asyncio.create_task(self._report_check_loop(), name="dispatch-report-check"),
            asyncio.create_task(self._lease_loop(), name="dispatch-lease-renewal"),
        ]

    async def stop(self, *, drain_seconds: float = 30.0) -> None:
        """Stop claiming, let in-flight batches finish and be recorded, then return."""
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=drain_seconds)

    async def _claim_loop(self) -> None:
        lease_ms = int(self._settings.lease_seconds * 1000)
        while not self._stopping:
            await self._slots.acquire()
            try:
                claims = await self._queue.claim(
                    now=self._clock(), lease_ms=lease_ms, limit=self._settings.batch_size
                )
            except GatewayError:
                self._slots.release()
                log.exception("claiming due messages failed; retrying shortly")
                await asyncio.sleep(1.0)
                continue
            except BaseException:
                self._slots.release()
                raise
            if not claims:
                self._slots.release()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.poll_seconds)
                continue
            task = asyncio.create_task(self._run_batch(claims))
            self._inflight[task] = (claims, self._clock())
            task.add_done_callback(self._forget)
            if len(claims) < self._settings.batch_size and self._settings.claim_linger_seconds:
                await asyncio.sleep(self._settings.claim_linger_seconds)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)

    async def _lease_loop(self) -> None:
        """Renew leases of batches still in flight well before they expire.

        Without this a batch whose submit and record took longer than the lease (a slow
        link, a long database wait) would be claimed again and sent twice.
        """
        lease_ms = int(self._settings.lease_seconds * 1000)
        while True:
            await asyncio.sleep(self._settings.lease_seconds / 3)
            now = self._clock()
            old = [
                c
                for claims, started in list(self._inflight.values())
                if now - started >= lease_ms // 3
                for c in claims
            ]
            if not old:
                continue
            try:
                await self._queue.renew(old, now=now, lease_ms=lease_ms)
            except GatewayError:
                log.exception("renewing %d leases failed", len(old))

    async def _run_batch(self, claims: list[Claim]) -> None:
        try:
            await self._send(claims)
        except Exception:
            # Nothing recorded: the leases run out and the messages are claimed again.
            log.exception("dispatching a batch of %d failed", len(claims))
        finally:
            self._slots.release()

    async def _send(self, claims: list[Claim]) -> None:
        routes = self._routes
        groups: dict[str, list[Claim]] = {}
        for claim in claims:
            groups.setdefault(routes.connector_for(claim.quality), []).append(claim)
        if len(groups) == 1:
            [(name, group)] = groups.items()
            await self._send_to(self._connectors[name], group)
            return
        await asyncio.gather(*(self._send_to(self._connectors[n], g) for n, g in groups.items()))

    async def _send_to(self, connector: Connector, claims: list[Claim]) -> None:
        submissions = [
            Submission(c.id, c.recipient, c.sender, c.text, c.encoding, c.segments) for c in claims
        ]
        timeout = self._settings.submit_timeout_seconds
        try:
            outcomes = await asyncio.wait_for(connector.submit(submissions), timeout)
        except ConnectorError as exc:
            outcomes = [Outcome(s.message_id, error=exc) for s in submissions]
        except TimeoutError:
            err = ConnectorError("connector timed out", retryable=True, code="timeout")
            outcomes = [Outcome(s.message_id, error=err) for s in submissions]
        await self._record(connector, claims, outcomes)

    async def _record(
        self, connector: Connector, claims: Sequence[Claim], outcomes: Sequence[Outcome]
    ) -> None:
        now = self._clock()
        check_after = (
            connector.report_query_after_ms if isinstance(connector, QueryableConnector) else None
        )
        by_id = {o.message_id: o for o in outcomes}
        sent: list[Sent] = []
        retries: list[Retry] = []
        failures: list[Failure] = []
        for claim in claims:
            outcome = by_id.get(claim.id)
            if outcome is None:
                error = ConnectorError("connector returned no outcome", retryable=True)
            elif outcome.error is None and outcome.external_id:
                sent.append(
                    Sent(
                        claim,
                        connector.name,
                        outcome.external_id,
                        None if check_after is None else now + check_after,
                    )
                )
                continue
            else:
                error = outcome.error or ConnectorError("no external id", retryable=True)
            if error.retryable and claim.attempts < self._settings.max_attempts:
                delay = backoff_ms(
                    claim.attempts,
                    base_ms=self._settings.retry_base_seconds * 1000,
                    max_ms=self._settings.retry_max_seconds * 1000,
                    rng=self._rng,
                )
                retries.append(Retry(claim, now + delay, error.code, error.message))
            else:
                reason = error.message
                if error.retryable:
                    reason = f"gave up after {claim.attempts} attempts: {error.message}"
                failures.append(Failure(claim, error.code, reason, connector.name))
        await self._queue.record(now=now, sent=sent, retries=retries, failures=failures)

    async def _report_check_loop(self) -> None:
        """Ask connectors about messages whose delivery report is overdue."""
        while not self._stopping:
            await asyncio.sleep(1.0)
            try:
                due = await self._queue.due_report_checks(
                    now=self._clock(), limit=500, recheck_ms=600_000
                )
                by_connector: dict[str, list[str]] = {}
                for name, ext in due:
                    by_connector.setdefault(name, []).append(ext)
                for name, ext_ids in by_connector.items():
                    conn = self._connectors.get(name)
                    if not isinstance(conn, QueryableConnector):
                        continue
                    reports: list[DeliveryReport] = await asyncio.wait_for(
                        conn.query(ext_ids), 30.0
                    )
                    if reports:
                        await self._queue.apply_reports(reports, self._clock())
            except (GatewayError, TimeoutError):
                log.exception("checking overdue delivery reports failed")
