"""SharedRate: max_rate for all processes together, through a ledger of per-slot budgets."""

from __future__ import annotations

import logging

import pytest

from textgate.connectors.smpp.shared_rate import SharedRate
from textgate.errors import StorageUnavailable


class VirtualTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


class Ledger:
    """The database's per-slot counting, on virtual time, shared by several SharedRates."""

    def __init__(self, time: VirtualTime) -> None:
        self.time = time
        self.used: dict[tuple[str, int], int] = {}
        self.calls = 0
        self.failing = False

    async def reserve(
        self, connector: str, want: int, per_slot: int, slot_ms: float
    ) -> tuple[int, float]:
        self.calls += 1
        if self.failing:
            raise StorageUnavailable("database unavailable: ConnectionRefusedError")
        now_ms = self.time.now * 1000
        slot = int(now_ms // slot_ms)
        used = self.used.get((connector, slot), 0)
        granted = max(0, min(want, per_slot - used))
        self.used[(connector, slot)] = used + granted
        return granted, (slot + 1) * slot_ms - now_ms


async def test_processes_together_stay_within_the_rate() -> None:
    time = VirtualTime()
    ledger = Ledger(time)
    rates = [
        SharedRate("carrier", ledger, 20, 2, clock=time.clock, sleep=time.sleep) for _ in range(3)
    ]
    start = time.now
    sent = 0
    # Three processes taking turns as fast as each is let: 200 submit_sm in all.
    while sent < 200:
        for rate in rates:
            await rate.take()
            sent += 1
    elapsed = time.now - start
    assert elapsed >= (200 - 2) / 20 - 0.1, f"200 went out in {elapsed:.2f} s"
    assert max(ledger.used.values()) <= 2
    # About one reservation per chunk (one token here), never one per token twice over.
    assert ledger.calls <= 2 * 200


async def test_a_chunk_serves_several_submit_sm_with_one_reservation() -> None:
    time = VirtualTime()
    ledger = Ledger(time)
    rate = SharedRate("carrier", ledger, 1000, 100, clock=time.clock, sleep=time.sleep)
    for _ in range(500):
        await rate.take()
    assert rate.chunk == 50
    # Per slot of 100: two chunks of 50, and one more call that finds the slot spent.
    assert ledger.calls <= 3 * 500 // 100, ledger.calls


async def test_a_failing_ledger_falls_back_to_a_share_of_the_rate_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    time = VirtualTime()
    ledger = Ledger(time)
    rate = SharedRate("carrier", ledger, 20, 2, peers=lambda: 2, clock=time.clock, sleep=time.sleep)
    ledger.failing = True
    start = time.now
    with caplog.at_level(logging.WARNING):
        for _ in range(40):
            await rate.take()  # never raises: messages are not failed by the budget
    assert rate.degraded
    elapsed = time.now - start
    # Half the rate (two processes share it): 40 take about 4 s, the ledger tried again.
    assert elapsed >= (40 - 1) / 10 - 0.1, elapsed
    warnings = [r for r in caplog.records if "shared rate budget unavailable" in r.message]
    assert len(warnings) == 1
    ledger.failing = False
    time.now += 10  # past the retry time
    await rate.take()
    assert not rate.degraded
