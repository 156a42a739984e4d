"""The supervised loop: retries any failure with capped, jittered backoff and keeps health.

Sleep, clock and the random draw are injected: nothing here waits on the wall clock.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError

from textgate.loops import Backoff, LoopRegistry, Step, run_loop, stop_loop
from textgate.observability.loop_metrics import LoopCollector


class FakeTime:
    """A clock that moves only when the loop sleeps; records every pause."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(actions: list[BaseException | None]) -> Step:
    """A step that raises or succeeds as told, then stops the loop by cancelling it."""
    todo = list(actions)

    async def step() -> None:
        if not todo:
            raise asyncio.CancelledError
        action = todo.pop(0)
        if action is not None:
            raise action

    return step


async def _run(
    step: Step,
    fake: FakeTime,
    registry: LoopRegistry,
    *,
    backoff: Backoff | None = None,
    draw: float = 0.0,
) -> None:
    with pytest.raises(asyncio.CancelledError):
        await run_loop(
            "work",
            step,
            registry,
            backoff=backoff,
            sleep=fake.sleep,
            draw=lambda: draw,
        )


async def test_foreign_errors_are_retried_until_the_step_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeTime()
    registry = LoopRegistry(clock=fake.clock)
    driver = OperationalError("SELECT 1", {}, ConnectionResetError("server closed"))
    caplog.set_level(logging.INFO, logger="textgate.loops")
    await _run(scripted([driver, RuntimeError("a bug"), OSError("refused"), None]), fake, registry)

    health = registry.health("work")
    assert health.failures == 0
    assert health.failures_total == 3
    assert health.last_error == "OSError: refused"
    assert health.last_success == fake.now
    assert not health.running and not health.crashed
    assert fake.sleeps == [0.5, 1.0, 2.0]
    # One traceback for the streak, then one line per further failure, then the recovery.
    with_traceback = [r for r in caplog.records if r.exc_info]
    assert len(with_traceback) == 1 and with_traceback[0].exc_info is not None
    assert with_traceback[0].exc_info[1] is driver
    messages = [r.getMessage() for r in caplog.records]
    assert "loop work failed again (2 in a row): RuntimeError: a bug; retrying in 1.0 s" in messages
    assert "loop work recovered after 3 failure(s)" in messages


async def test_backoff_doubles_up_to_the_cap_with_jitter_below_it() -> None:
    fake = FakeTime()
    failures: list[BaseException | None] = [RuntimeError("down")] * 8
    backoff = Backoff(initial=1.0, cap=10.0, factor=2.0, jitter=0.5)
    await _run(scripted(failures), fake, LoopRegistry(clock=fake.clock), backoff=backoff)
    assert fake.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0]

    jittered = FakeTime()
    await _run(
        scripted(failures), jittered, LoopRegistry(clock=jittered.clock), backoff=backoff, draw=0.99
    )
    assert jittered.sleeps == pytest.approx([x * (1 - 0.5 * 0.99) for x in fake.sleeps])
    assert Backoff().delay(10_000, 0.0) == Backoff().cap  # no overflow on long outages


async def test_a_loop_is_failing_after_three_failures_in_a_row() -> None:
    fake = FakeTime()
    registry = LoopRegistry(clock=fake.clock)
    seen: list[list[str]] = []
    todo: list[BaseException | None] = [RuntimeError("x")] * 3 + [None]

    async def step() -> None:
        seen.append(sorted(registry.report()))
        if not todo:
            raise asyncio.CancelledError
        action = todo.pop(0)
        if action is not None:
            raise action

    await _run(step, fake, registry)
    # Observed before each try: failing once the third failure is in, until a success.
    assert seen == [[], [], [], ["work"], []]


async def test_a_loop_is_failing_after_thirty_seconds_of_failure() -> None:
    fake = FakeTime()
    registry = LoopRegistry(clock=fake.clock)
    states: list[bool] = []
    todo: list[BaseException | None] = [RuntimeError("slow outage")] * 2

    async def step() -> None:
        states.append(registry.health("work").failing(fake.now))
        if not todo:
            raise asyncio.CancelledError
        raise todo.pop(0) or RuntimeError

    # Two failures 20 s apart: not yet three, but failing for 40 s by the third try.
    await _run(step, fake, registry, backoff=Backoff(initial=20.0, cap=20.0, jitter=0.0))
    assert states == [False, False, True]
    report = registry.report()["work"]
    assert report["failures"] == 2
    assert report["failing_seconds"] == 40.0
    assert report["last_error"] == "RuntimeError: slow outage"
    assert report["last_success_seconds"] is None


async def test_cancellation_stops_the_loop_and_is_not_a_failure() -> None:
    registry = LoopRegistry()
    started = asyncio.Event()

    async def step() -> None:
        started.set()
        await asyncio.Event().wait()

    task = registry.spawn("idle", step)
    await started.wait()
    assert registry.health("idle").running
    await stop_loop(task)
    health = registry.health("idle")
    assert not health.running and health.failures_total == 0 and not registry.failing()


class Fatal(BaseException):
    pass


async def test_a_loop_ended_by_a_base_exception_is_reported_as_crashed() -> None:
    registry = LoopRegistry()

    async def step() -> None:
        raise Fatal("shutting down hard")

    with pytest.raises(Fatal):
        await run_loop("fatal", step, registry)
    health = registry.health("fatal")
    assert health.crashed and not health.running
    assert [r.name for r in registry.failing()] == ["fatal"]
    assert registry.report()["fatal"]["last_error"] == "Fatal: shutting down hard"


async def test_metrics_show_failing_and_failure_totals_per_loop() -> None:
    fake = FakeTime()
    registry = LoopRegistry(clock=fake.clock)
    await _run(scripted([RuntimeError("x")] * 4), fake, registry)
    healthy = FakeTime()
    await run_loop_ok(registry, "quiet", healthy)
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(LoopCollector(registry))
    samples = {
        (s.name, s.labels["loop"]): s.value
        for family in text_string_to_metric_families(generate_latest(scraped).decode())
        for s in family.samples
    }
    assert samples[("textgate_loop_failing", "work")] == 1.0
    assert samples[("textgate_loop_failures_total", "work")] == 4.0
    assert samples[("textgate_loop_failing", "quiet")] == 0.0
    assert samples[("textgate_loop_failures_total", "quiet")] == 0.0


async def run_loop_ok(registry: LoopRegistry, name: str, fake: FakeTime) -> None:
    with pytest.raises(asyncio.CancelledError):
        await run_loop(name, scripted([None]), registry, sleep=fake.sleep)
