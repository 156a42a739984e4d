"""Overview figures and message counts, from hourly aggregates and recent messages alike,
on a gateway whose clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from textgate.config import Settings
from textgate.core.accounts import Account
from textgate.runtime import Gateway
from textgate.services.submit import SubmitRequest
from textgate.storage.rollups import REFRESH_MS

HOUR = 3_600_000
DAY = 24 * HOUR
# A whole day, so range boundaries fall where the test expects them.
START = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
async def gw(settings: Settings) -> AsyncIterator[tuple[Gateway, Clock]]:
    clock = Clock(START)
    gateway = Gateway(settings, clock=clock)
    await gateway.start(dispatch=False)
    try:
        yield gateway, clock
    finally:
        await gateway.stop()


async def _send(gateway: Gateway, account: Account, to: list[str], text: str = "hi") -> list[str]:
    result = await gateway.services.submit.submit(
        SubmitRequest(account=account, recipients=to, text=text)
    )
    return [m.id for m in result.messages]


async def test_old_hours_come_from_aggregates_and_agree_with_recent_ones(
    gw: tuple[Gateway, Clock],
) -> None:
    gateway, clock = gw
    stats = gateway.services.stats
    acme = await gateway.services.accounts.create("acme")
    other = await gateway.services.accounts.create("other")
    clock.now = START - 5 * DAY + 30 * 60_000  # settled long ago
    await _send(gateway, acme, ["+33612345678", "+33612345679"], "x" * 200)  # 2 parts each
    clock.now = START - 2 * DAY + 10 * 60_000  # aggregated, not yet settled
    unsettled = await _send(gateway, acme, ["+33612345670"])
    await _send(gateway, other, ["+33612345671"])
    clock.now = START - HOUR  # recent: read from messages
    await _send(gateway, acme, ["+33612345672", "+441234"])  # the second is rejected
    clock.now = START

    week = await stats.overview(acme.id, "7d")
    assert week.total == 5
    assert {k: sum(v) for k, v in week.by_status.items()} == {"queued": 4, "rejected": 1}
    assert week.total_parts == 2 * 2 + 1 + 1 + 1
    hourly = dict(zip(week.slots, week.by_status["queued"], strict=True))
    assert hourly[START - 5 * DAY] == 2
    assert hourly[START - 2 * DAY] == 1
    assert hourly[START - HOUR] == 1
    everyone = await stats.overview(None, "7d")
    assert everyone.total == 6

    month = await stats.overview(acme.id, "30d")
    daily = dict(zip(month.slots, month.by_status["queued"], strict=True))
    assert daily[START - 5 * DAY] == 2
    assert daily[START - 2 * DAY] == 1
    assert daily[START - DAY] == 1

    counts = {(c.status, c.connector): c.count for c in (await stats.snapshot()).counts}
    assert counts == {("queued", None): 5, ("rejected", None): 1}

    # An unsettled hour follows its messages' changes, within the refresh interval.
    await gateway.services.messages.cancel_message(acme.id, unsettled[0])
    clock.now += REFRESH_MS
    week = await stats.overview(acme.id, "7d")
    assert {k: sum(v) for k, v in week.by_status.items()} == {
        "queued": 3,
        "cancelled": 1,
        "rejected": 1,
    }
    counts = {(c.status, c.connector): c.count for c in (await stats.snapshot()).counts}
    assert counts == {("queued", None): 4, ("cancelled", None): 1, ("rejected", None): 1}


async def test_short_ranges_read_messages_in_five_minute_slices(
    gw: tuple[Gateway, Clock],
) -> None:
    gateway, clock = gw
    acme = await gateway.services.accounts.create("acme")
    clock.now = START - 12 * 60_000
    await _send(gateway, acme, ["+33612345678"])
    clock.now = START - 2 * 60_000
    await _send(gateway, acme, ["+33612345679", "+33612345670"])
    clock.now = START
    hour = await gateway.services.stats.overview(acme.id, "1h")
    assert len(hour.slots) == 12
    # The last slice is the current one, still filling.
    assert hour.slots[-1] == START
    assert hour.by_status["queued"][-4:] == (1, 0, 2, 0)
    assert hour.delivery_rate is None
    assert hour.mean_latency_ms is None
