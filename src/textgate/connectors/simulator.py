"""A built-in operator: accepts messages and answers with delivery reports.

It is the default connector, for development, demos, tests and benchmarks. Everything it
decides (accept or refuse, which final state, every random draw) is a pure function of the
seed and the message id, so a run can be replayed and a restarted gateway can still learn a
message's fate through :meth:`SimulatorConnector.query` (as SMPP's query_sm would).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from textgate.connectors.base import (
    HandoffGate,
    InboundSink,
    Outcome,
    OutcomeSink,
    QueryRef,
    ReportSink,
    Submission,
)
from textgate.core.clock import from_ms
from textgate.core.message import DeliveryReport, Status
from textgate.errors import ConnectorError
from textgate.loops import LoopRegistry, stop_loop

__all__ = ["SimulatorConnector", "SimulatorOptions"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SimulatorOptions:
    seed: int = 0
    latency_ms: float = 0.0
    """Time a submit batch takes (one round trip to the pretend operator)."""
    accept_rate: float = 1.0
    """Share of messages the operator accepts; the rest are refused (final failure)."""
    retryable_rate: float = 0.0
    """Share of submits that fail with a retryable error (throttled), drawn per attempt."""
    report_delay_ms: float = 200.0
    final_mix: dict[str, float] = field(
        default_factory=lambda: {"delivered": 1.0, "undelivered": 0.0, "expired": 0.0}
    )
    journal: str | None = None
    """File that gets one line per message handed over (for at-most-once tests)."""

    @classmethod
    def from_mapping(cls, options: dict[str, Any]) -> SimulatorOptions:
        known = {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        unknown = set(options) - set(known)
        if unknown:
            raise ValueError(f"unknown simulator options: {', '.join(sorted(unknown))}")
        return cls(**known)


_FINALS = {
    "delivered": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED,
    "expired": Status.EXPIRED,
}


class SimulatorConnector:
    report_query_after_ms: int

    def __init__(
        self, name: str, options: SimulatorOptions, loops: LoopRegistry | None = None
    ) -> None:
        self._loops = loops or LoopRegistry()
        self.name = name
        self.options = options
        self._sink: ReportSink | None = None
        self._timers: list[tuple[float, int, DeliveryReport]] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._journal: TextIO | None = None
        self._attempts: dict[str, int] = {}
        total = sum(options.final_mix.values()) or 1.0
        acc = 0.0
        self._mix: list[tuple[float, Status]] = []
        for key, weight in options.final_mix.items():
            if key not in _FINALS:
                raise ValueError(f"unknown final state {key!r} in final_mix")
            if weight <= 0:
                continue  # never drawn; leaving it out lets a one-state mix skip the draw
            acc += weight / total
            self._mix.append((acc, _FINALS[key]))
        if not self._mix:
            raise ValueError("final_mix needs at least one positive weight")
        # Ask about a message when its report is overdue by a comfortable margin.
        self.report_query_after_ms = int(options.report_delay_ms) + 5_000

    async def start(self, sink: ReportSink, inbound: InboundSink | None = None) -> None:
        self._sink = sink
        if self.options.journal:
            path = Path(self.options.journal)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._journal = await asyncio.to_thread(path.open, "a", encoding="utf-8")
        self._task = self._loops.spawn(f"simulator-{self.name}", self._report_once)

    async def stop(self) -> None:
        await stop_loop(self._task)
        self._task = None
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def _draw(self, message_id: str, purpose: str) -> float:
        digest = hashlib.blake2b(
            f"{self.options.seed}:{purpose}:{message_id}".encode(), digest_size=8
        ).digest()
        return int.from_bytes(digest, "big") / 2**64

    def final_state(self, message_id: str) -> Status:
        if len(self._mix) == 1:
            return self._mix[0][1]
        draw = self._draw(message_id, "final")
        for bound, status in self._mix:
            if draw < bound:
                return status
        return self._mix[-1][1]

    async def submit(
        self,
        batch: Sequence[Submission],
        done: OutcomeSink | None = None,
        gate: HandoffGate | None = None,
    ) -> list[Outcome]:
        if self.options.latency_ms:
            await asyncio.sleep(self.options.latency_ms / 1000)
        now_ms = int(time.time() * 1000)
        outcomes: list[Outcome] = []
        handed: list[str] = []
        for sub in batch:
            attempt = self._attempts.get(sub.message_id, 0) + 1
            if self.options.retryable_rate and (
                self._draw(f"{sub.message_id}#{attempt}", "throttle") < self.options.retryable_rate
            ):
                self._attempts[sub.message_id] = attempt
                outcomes.append(
                    Outcome(
                        sub.message_id,
                        error=ConnectorError(
                            "simulated throttling", retryable=True, code="throttled"
                        ),
                    )
                )
                continue
            self._attempts.pop(sub.message_id, None)
            handed.append(sub.message_id)
            if self.options.accept_rate < 1.0 and (
                self._draw(sub.message_id, "accept") >= self.options.accept_rate
            ):
                outcomes.append(
                    Outcome(
                        sub.message_id,
                        error=ConnectorError(
                            "simulated refusal: destination not reachable",
                            retryable=False,
                            code="refused",
                        ),
                    )
                )
                continue
            external_id = f"{now_ms:x}.{sub.message_id}"
            outcomes.append(Outcome(sub.message_id, external_id=external_id))
            self._schedule(external_id, sub.message_id, now_ms)
        if self._journal is not None and handed:
            self._journal.write("".join(f"{m}\n" for m in handed))
            self._journal.flush()
        return outcomes

    def _schedule(self, external_id: str, message_id: str, submitted_ms: int) -> None:
        due_ms = submitted_ms + self.options.report_delay_ms
        status = self.final_state(message_id)
        report = DeliveryReport(
            connector=self.name,
            external_id=external_id,
            status=status,
            at=from_ms(int(due_ms)),
            error_code=None if status == Status.DELIVERED else "sim-001",
        )
        self._seq += 1
        heapq.heappush(self._timers, (due_ms / 1000, self._seq, report))
        self._wake.set()

    async def query(self, refs: Sequence[QueryRef]) -> list[DeliveryReport]:
        now_ms = time.time() * 1000
        reports = []
        for ext in (r.external_id for r in refs):
            stamp, _, message_id = ext.partition(".")
            try:
                submitted = int(stamp, 16)
            except ValueError:
                continue
            due = submitted + self.options.report_delay_ms
            if not message_id or now_ms < due:
                continue
            status = self.final_state(message_id)
            reports.append(
                DeliveryReport(
                    connector=self.name,
                    external_id=ext,
                    status=status,
                    at=from_ms(int(due)),
                    error_code=None if status == Status.DELIVERED else "sim-001",
                )
            )
        return reports

    async def _report_once(self) -> None:
        """Wait for the next report to fall due, then hand over those due (at most 2000).

        Reports the sink fails to take are not lost for good: query() answers for them."""
        if not self._timers:
            self._wake.clear()
            await self._wake.wait()
            return
        delay = self._timers[0][0] - time.time()
        if delay > 0:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # (asyncio.timeout: see dispatch.worker)
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            return
        now = time.time()
        due: list[DeliveryReport] = []
        while self._timers and self._timers[0][0] <= now and len(due) < 2000:
            due.append(heapq.heappop(self._timers)[2])
        if self._sink is not None and due:
            await self._sink(due)
