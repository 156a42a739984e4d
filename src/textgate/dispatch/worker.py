"""The dispatcher: claim due messages, hand them to connectors, record each one's outcome.

One loop claims batches while fewer than ``concurrency`` batches are in flight. A batch is a
convenience for the wire and the database, never a unit of outcome or of time (DESIGN
"Delivery contract"): the connector reports each message as soon as its hand-off ends and
the :class:`Recorder` stores it at once, whatever the rest of the batch is doing. There is no
time limit on a batch; each hand-off has its own, inside the connector, and the leases of
messages still in hand are renewed meanwhile.

Each claimed message comes with its connector, chosen as it is claimed (``dispatch.routes``:
the routing table, the links' health, where the message has been); what each outcome makes
of the message is :class:`~textgate.dispatch.settle.Settler`'s business. The table in force
is reloaded every ``routing.reload_seconds`` (a table stored by another process) and at once
when this process stores one.

Wake-ups come from the local submit path (same process), from PostgreSQL NOTIFY (other
processes), or from the poll timer, whichever is first, so a scheduled message leaves within
``poll_seconds`` of its time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping

from textgate.config import DispatchSettings, FailoverSettings
from textgate.connectors.base import (
    Connector,
    Outcome,
    QueryableConnector,
    QueryRef,
    Submission,
)
from textgate.core.clock import Clock, system_clock
from textgate.core.routing import Routes, RoutingTable
from textgate.dispatch.gate import Gate
from textgate.dispatch.links import LinkStatus, LinkWatch
from textgate.dispatch.recorder import Recorder
from textgate.dispatch.routes import RouteChooser, TableSource
from textgate.dispatch.settle import SENT_OK, DispatchStats, LinkCounts, LinkPolicy, Settler
from textgate.errors import ConnectorError
from textgate.loops import Backoff, LoopRegistry, stop_loop
from textgate.storage.queue import IN_DOUBT, Claim, DispatchQueue, Failure

__all__ = ["SENT_OK", "DispatchStats", "Dispatcher", "LinkCounts", "LinkPolicy"]

_RECHECK_MS = 600_000
"""The longest wait before asking again about a message's missing report (the wait grows
with the time it has waited; see storage.reports)."""

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        queue: DispatchQueue,
        connectors: Mapping[str, Connector],
        *,
        default_connector: str,
        settings: DispatchSettings,
        routing: RoutingTable | None = None,
        table_source: TableSource | None = None,
        reload_seconds: float = 5.0,
        failover: FailoverSettings | None = None,
        policies: Mapping[str, LinkPolicy] | None = None,
        clock: Clock = system_clock,
        rng: random.Random | None = None,
        loops: LoopRegistry | None = None,
        counts: LinkCounts | None = None,
    ) -> None:
        """``routing``: the table to start with (default: everything to
        ``default_connector``); ``table_source``: where the table in force is read again,
        every ``reload_seconds``."""
        self._queue = queue
        self._loops = loops or LoopRegistry()
        self._connectors = connectors
        self._routes = RouteChooser(routing or RoutingTable(Routes(default_connector)))
        self._table_source = table_source
        self._reload_seconds = reload_seconds
        self._watch = LinkWatch(connectors, failover or FailoverSettings(), clock)
        self._policies = dict(policies or {})
        self._settings = settings
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._inflight: set[asyncio.Task[None]] = set()
        self._open: dict[str, tuple[Claim, int]] = {}
        """Claims handed to a connector and not yet settled, with when they were claimed."""
        self._tasks: list[asyncio.Task[None]] = []
        self.stats = DispatchStats()
        self._recorder = Recorder(queue, clock, on_settled=self._settled, on_late=self._late)
        self._settler = Settler(
            self._recorder,
            self._watch,
            lambda: self._routes.table,
            settings,
            clock,
            rng or random.Random(),
            self.stats,
            counts,
        )
        # One gate per link that has a window: written-but-unrecorded messages stay within
        # it (see dispatch.gate).
        self._gates = {
            name: Gate(size)
            for name, conn in connectors.items()
            if (size := int(getattr(conn, "handoff_window", 0) or 0)) > 0
        }

    @property
    def table(self) -> RoutingTable:
        """The routing table in force."""
        return self._routes.table

    def use_table(self, table: RoutingTable) -> None:
        """Route with ``table`` from the next claim on."""
        self._routes.use(table)

    def routed(self) -> frozenset[str]:
        """The connectors the table in force may send to."""
        return self._routes.routed()

    def link_status(self) -> dict[str, LinkStatus]:
        """How failover sees each connector now."""
        return {name: self._watch.status(name) for name in sorted(self._connectors)}

    def wake(self) -> None:
        """Look for due messages now (new work was committed)."""
        self._wake.set()

    @property
    def recording_fails(self) -> bool:
        """Outcomes cannot be stored right now (they are kept and retried)."""
        return self._recorder.failing

    async def start(self) -> None:
        self._recorder.start()
        with contextlib.suppress(Exception):
            # Claims a crashed predecessor under the same identity left: due now.
            taken = await self._queue.reclaim_own(now=self._clock())
            if taken:
                log.warning("took back %d claims left by this worker's last run", taken)
        # Each loop survives any error (logged, backed off, shown by /readyz): a database
        # restart or a statement timeout never ends delivery while the process lives on.
        lease = self._settings.lease_seconds
        self._tasks = [
            self._loops.spawn("dispatch-claim", self._claim_once),
            self._loops.spawn("dispatch-report-check", self._report_check_once),
            *(
                [self._loops.spawn("dispatch-routing-reload", self._reload_once)]
                if self._table_source is not None
                else []
            ),
            # Short pauses: leases must be renewed before they run out.
            self._loops.spawn(
                "dispatch-lease-renewal",
                self._renew_once,
                backoff=Backoff(initial=min(0.5, lease / 6), cap=lease / 6),
            ),
        ]

    async def stop(self, *, drain_seconds: float = 30.0) -> None:
        """Stop claiming, let in-flight hand-offs end and be recorded, then return.

        Messages still waiting for a window slot or a rate token when the drain time is up
        are given back (never sent); those written without an answer stay claimed, and come
        back in doubt to whoever claims them next (this worker at once after a restart).
        """
        self._stopping = True
        for task in self._tasks:
            await stop_loop(task)
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=drain_seconds)
        for task in list(self._inflight):
            task.cancel()
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=5.0)
        await self._recorder.stop()

    # ------------------------------------------------------------------ loops

    async def _claim_once(self) -> None:
        """Claim one batch and start it, or wait for work (one pass of the claim loop)."""
        await self._slots.acquire()
        try:
            claims = await self._claim()
        except BaseException:
            self._slots.release()
            raise
        if not claims:
            self._slots.release()
            self._wake.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that lands as the wake-up does, and the loop would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.poll_seconds):
                    await self._wake.wait()
            return
        now = self._clock()
        for claim in claims:
            self._open[claim.id] = (claim, now)
        task = asyncio.create_task(self._run_batch(claims))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        if len(claims) < self._settings.batch_size and self._settings.claim_linger_seconds:
            await asyncio.sleep(self._settings.claim_linger_seconds)

    async def _report_check_once(self) -> None:
        await asyncio.sleep(1.0)
        await self._report_check()

    async def _reload_once(self) -> None:
        await asyncio.sleep(self._reload_seconds)
        if self._table_source is not None:
            self.use_table(await self._table_source())

    async def _renew_once(self) -> None:
        await asyncio.sleep(self._settings.lease_seconds / 3)
        await self._renew()

    async def _claim(self) -> list[Claim]:
        return await self._queue.claim(
            now=self._clock(),
            lease_ms=int(self._settings.lease_seconds * 1000),
            limit=self._settings.batch_size,
            validity_ms=int(self._settings.validity_seconds * 1000),
            router=self._routes.router(self._watch.unusable()),
        )

    async def _renew(self) -> None:
        """Renew the leases of messages still in hand well before they expire, so a slow
        link (or a long wait for a window slot or a rate token) never lets another worker
        claim them and send them twice."""
        lease_ms = int(self._settings.lease_seconds * 1000)
        now = self._clock()
        old = [claim for claim, at in list(self._open.values()) if now - at >= lease_ms // 3]
        if old:
            await self._queue.renew(old, now=now, lease_ms=lease_ms)
            for claim in old:
                if claim.id in self._open:
                    self._open[claim.id] = (claim, now)

    def _settled(self, ids: list[str]) -> None:
        for message_id in ids:
            self._open.pop(message_id, None)
        for gate in self._gates.values():
            gate.leave(ids)

    def _late(self, applied: int, too_late: int) -> None:
        self.stats.late_answers += applied
        self.stats.late_too_late += too_late
        if too_late:
            log.warning(
                "%d answers came after their message was sent again or ended (duplicates)",
                too_late,
            )

    # ------------------------------------------------------------------ batches

    async def _run_batch(self, claims: list[Claim]) -> None:
        try:
            groups: dict[str, list[Claim]] = {}
            for claim in claims:
                if claim.connector:
                    groups.setdefault(claim.connector, []).append(claim)
                else:
                    self._recorder.failure(_refused_everywhere(claim))
            await asyncio.gather(*(self._send_to(name, group) for name, group in groups.items()))
        except Exception:
            # What was not recorded stays claimed: the lease brings it back, in doubt.
            log.exception("dispatching a batch of %d failed", len(claims))
        finally:
            self._slots.release()

    def _policy(self, name: str) -> LinkPolicy:
        return self._policies.get(name) or LinkPolicy()

    async def _send_to(self, name: str, claims: list[Claim]) -> None:
        connector = self._connectors.get(name)
        policy = self._policy(name)
        settle = self._settler.settle
        pending: dict[str, Claim] = {}
        for claim in claims:
            if connector is None:
                settle(name, policy, None, claim, _no_connector(name))
            elif claim.in_doubt and policy.in_doubt == "fail":
                self._recorder.failure(
                    Failure(
                        claim,
                        IN_DOUBT,
                        "no answer from the link and in_doubt = fail: not sent again"
                        " (it may have reached the operator)",
                        name,
                        refund=False,
                        tried=claim.tried,
                    )
                )
            else:
                pending[claim.id] = claim
        if connector is None or not pending:
            return
        batch = dict(pending)

        def done(outcome: Outcome) -> None:
            claim = pending.pop(outcome.message_id, None)
            if claim is not None:
                settle(name, policy, connector, claim, outcome)
            elif outcome.error is None and outcome.external_id is not None:
                # A second word about a message: the answer to one recorded in doubt.
                first = batch.get(outcome.message_id)
                if first is not None:
                    late = self._settler.late_sent(name, policy, connector, outcome, first)
                    self._recorder.late(late)

        submissions = [
            Submission(
                c.id, c.recipient, c.sender, c.text, c.encoding, c.segments, c.resume, c.asked_until
            )
            for c in pending.values()
        ]
        try:
            outcomes = await connector.submit(submissions, done, self._gates.get(name))
        except ConnectorError as exc:
            outcomes = [Outcome(s.message_id, error=exc) for s in submissions]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a connector bug: what it wrote may have gone out
            log.exception("connector %s failed on a batch", name)
            err = ConnectorError.in_doubt(f"connector failed: {exc!r}", code="connector_failed")
            outcomes = [Outcome(s.message_id, error=err) for s in submissions]
        for outcome in outcomes:
            if outcome.message_id in pending:
                done(outcome)
        for claim in list(pending.values()):
            settle(
                name,
                policy,
                connector,
                claim,
                Outcome(claim.id, error=ConnectorError.in_doubt("connector gave no outcome")),
            )
        pending.clear()

    # ------------------------------------------------------------------ reports

    async def _report_check(self) -> None:
        """Ask connectors about messages whose delivery report is overdue (and end those
        whose receipt window is over: the queue does that as it picks them)."""
        due = await self._queue.due_report_checks(
            now=self._clock(), limit=500, recheck_ms=_RECHECK_MS
        )
        by_connector: dict[str, list[QueryRef]] = {}
        for check in due:
            by_connector.setdefault(check.connector, []).append(
                QueryRef(check.external_id, check.sender)
            )
        for name, refs in by_connector.items():
            conn = self._connectors.get(name)
            if not isinstance(conn, QueryableConnector):
                continue
            reports = await asyncio.wait_for(conn.query(refs), 30.0)
            if reports:
                await self._queue.apply_reports(reports, self._clock())


def _no_connector(name: str) -> Outcome:
    return Outcome("", error=ConnectorError.not_sent(f"no connector named {name!r} here"))


def _refused_everywhere(claim: Claim) -> Failure:
    """A message every connector of its route refused already (the table changed since)."""
    return Failure(
        claim,
        "refused",
        f"refused by every connector of route {claim.route}",
        None,
        refund=not claim.in_doubt,
        tried=claim.tried,
    )
