"""Supervised background loops: one iteration, run forever, never dying silently.

Every background task of the gateway (webhook and mail senders, sweeps, the order writer,
the LISTEN connection) is an iteration function run by :func:`run_loop`. Whatever an
iteration raises (a database restart, a statement timeout, a bug) is logged, counted in the
loop's :class:`LoopHealth`, waited out with exponential backoff and retried: the queues live
in the database, so the next successful iteration picks up what the failed one left.
Cancellation is the only way out; it is how the owner stops its loop.

Health records live in a :class:`LoopRegistry` that the runtime builds once per process and
hands down; ``/readyz`` and ``/metrics`` read it. This module imports no other part of the
gateway, so that every layer may use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = [
    "Backoff",
    "LoopHealth",
    "LoopRegistry",
    "Step",
    "run_loop",
    "stop_loop",
]

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[None]]
"""One iteration of a loop, idle waiting included (a poll interval, an event)."""

Sleep = Callable[[float], Awaitable[None]]

FAILING_AFTER = 3
"""Consecutive failures after which a loop counts as failing."""
FAILING_FOR = 30.0
"""Seconds of uninterrupted failure after which a loop counts as failing."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Pause before the n-th retry in a row: ``initial * factor**(n-1)``, at most ``cap``,
    scaled by a random factor in [1 - jitter, 1] so that processes restarted together by
    the same outage do not retry in step."""

    initial: float = 0.5
    cap: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5

    def delay(self, failures: int, draw: float) -> float:
        """``draw`` is uniform in [0, 1)."""
        raw = self.initial * self.factor ** min(max(failures - 1, 0), 64)
        return min(raw, self.cap) * (1.0 - self.jitter * draw)


@dataclass(slots=True)
class LoopHealth:
    """What one loop is doing: mutable, written only by its :func:`run_loop`."""

    name: str
    running: bool = False
    failures: int = 0
    """Consecutive failed iterations (0 after a success)."""
    failures_total: int = 0
    last_error: str | None = None
    """The last failure, ``Type: message`` (kept after recovery, for the operator)."""
    last_success: float | None = None
    """Wall-clock seconds of the last successful iteration."""
    failing_since: float | None = None
    """Wall-clock seconds of the first failure of the current streak."""
    crashed: bool = False
    """The loop ended by something other than cancellation (it is not running any more)."""

    def failing(self, now: float) -> bool:
        if self.crashed:
            return True
        if self.failures == 0 or self.failing_since is None:
            return False
        return self.failures >= FAILING_AFTER or now - self.failing_since >= FAILING_FOR


class LoopRegistry:
    """Health records by loop name, one registry per process."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._records: dict[str, LoopHealth] = {}

    def health(self, name: str) -> LoopHealth:
        record = self._records.get(name)
        if record is None:
            record = self._records[name] = LoopHealth(name)
        return record

    def records(self) -> list[LoopHealth]:
        return sorted(self._records.values(), key=lambda r: r.name)

    def failing(self) -> list[LoopHealth]:
        now = self.clock()
        return [r for r in self.records() if r.failing(now)]

    def report(self) -> dict[str, dict[str, object]]:
        """The failing loops, by name: what ``/readyz`` shows."""
        now = self.clock()
        return {
            r.name: {
                "running": r.running,
                "failures": r.failures,
                "failing_seconds": None
                if r.failing_since is None
                else round(now - r.failing_since, 1),
                "last_error": r.last_error,
                "last_success_seconds": None
                if r.last_success is None
                else round(now - r.last_success, 1),
            }
            for r in self.failing()
        }

    def failed(self, name: str, exc: BaseException) -> None:
        """For a loop that keeps its own schedule: one more failed pass."""
        health = self.health(name)
        health.running = True
        now = self.clock()
        health.failures += 1
        health.failures_total += 1
        health.last_error = f"{type(exc).__name__}: {exc}"[:300]
        if health.failing_since is None:
            health.failing_since = now

    def succeeded(self, name: str) -> None:
        """For a loop that keeps its own schedule: a pass that worked."""
        health = self.health(name)
        health.running = True
        health.failures = 0
        health.failing_since = None
        health.last_success = self.clock()

    def spawn(self, name: str, step: Step, *, backoff: Backoff | None = None) -> asyncio.Task[None]:
        """Start ``step`` as a supervised loop named ``name`` (a task of that name)."""
        return asyncio.create_task(run_loop(name, step, self, backoff=backoff), name=name)


async def run_loop(
    name: str,
    step: Step,
    registry: LoopRegistry,
    *,
    backoff: Backoff | None = None,
    sleep: Sleep = asyncio.sleep,
    draw: Callable[[], float] = random.random,
) -> None:
    """Run ``step`` until cancelled; any Exception is logged, backed off and retried."""
    pause = backoff or Backoff()
    health = registry.health(name)
    health.running = True
    health.crashed = False
    ended = "cancelled"
    try:
        while True:
            try:
                await step()
            except Exception as exc:
                delay = pause.delay(health.failures + 1, draw())
                _failed(health, exc, registry.clock(), delay)
                await sleep(delay)
                continue
            if health.failures:
                log.warning("loop %s recovered after %d failure(s)", name, health.failures)
            health.failures = 0
            health.failing_since = None
            health.last_success = registry.clock()
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        # SystemExit, KeyboardInterrupt and the like end the process; say which loop saw it.
        ended = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        health.running = False
        if ended != "cancelled":
            health.crashed = True
            health.last_error = ended
            log.error("loop %s ended: %s", name, ended)


def _failed(health: LoopHealth, exc: Exception, now: float, delay: float) -> None:
    health.failures += 1
    health.failures_total += 1
    health.last_error = f"{type(exc).__name__}: {exc}"[:300]
    if health.failures == 1:
        health.failing_since = now
        # The traceback once per streak: the same error every few seconds would bury the log.
        log.error(
            "loop %s failed; retrying in %.1f s",
            health.name,
            delay,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
    else:
        log.warning(
            "loop %s failed again (%d in a row): %s; retrying in %.1f s",
            health.name,
            health.failures,
            health.last_error,
            delay,
        )


async def stop_loop(task: asyncio.Task[None] | None) -> None:
    """Cancel a loop's task and wait until it has ended."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
