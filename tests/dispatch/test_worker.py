"""The dispatcher against the simulator and a scripted connector: retries, failures, leases,
early reports, overdue-report queries and draining on shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from tests.dispatch.support import reach, submit
from textgate.config import DispatchSettings, Settings
from textgate.connectors.base import (
    HandoffGate,
    InboundSink,
    Outcome,
    OutcomeSink,
    QueryRef,
    ReportSink,
    Submission,
)
from textgate.core.accounts import Account
from textgate.core.clock import from_ms, system_clock
from textgate.core.message import DeliveryReport, Status
from textgate.dispatch.worker import Dispatcher
from textgate.runtime import Gateway
from textgate.services.query import MessageFilter
from textgate.storage.queue import DispatchQueue, Sent

NUMBERS = [f"+3361234{i:04d}" for i in range(100)]


def _settings(settings: Settings, sim: dict[str, Any], **dispatch: Any) -> Settings:
    base = {"retry_base_seconds": 0.01, "retry_max_seconds": 0.05, "poll_seconds": 0.05}
    return settings.model_copy(
        update={
            "connectors": [
                settings.connectors[0].model_copy(
                    update={"options": {"report_delay_ms": 20, **sim}}
                )
            ],
            "dispatch": DispatchSettings(**{**base, **dispatch}),
        }
    )


@pytest.fixture
async def started() -> AsyncIterator[list[Gateway]]:
    gateways: list[Gateway] = []
    yield gateways
    for gw in gateways:
        await gw.stop()


async def _gateway(settings: Settings, started: list[Gateway], *, dispatch: bool = True) -> Gateway:
    gw = Gateway(settings)
    await gw.start(dispatch=dispatch, migrate=True)
    started.append(gw)
    return gw


async def _account(gw: Gateway) -> Account:
    return await gw.services.accounts.create(f"acct-{len(NUMBERS)}-{id(gw)}")


async def test_retryable_errors_are_retried_until_sent(
    settings: Settings, started: list[Gateway]
) -> None:
    gw = await _gateway(_settings(settings, {"retryable_rate": 0.5}, max_attempts=30), started)
    account = await _account(gw)
    ids = await submit(gw, account, NUMBERS[:40])
    msgs = await reach(gw, account, ids, {Status.DELIVERED})
    retried = [m for m in msgs if m.attempts > 1]
    assert retried, "with half the attempts throttled some messages must have been retried"
    history = [e.status for e in retried[0].events]
    assert history[:3] == [Status.QUEUED, Status.SENDING, Status.QUEUED]
    assert history[-2:] == [Status.SENT, Status.DELIVERED]
    assert "retry 2" in (retried[0].events[2].detail or "")


async def test_retries_stop_at_the_limit(settings: Settings, started: list[Gateway]) -> None:
    gw = await _gateway(_settings(settings, {"retryable_rate": 1.0}, max_attempts=3), started)
    account = await _account(gw)
    ids = await submit(gw, account, NUMBERS[:2])
    msgs = await reach(gw, account, ids, {Status.FAILED})
    assert all(m.attempts == 3 for m in msgs)
    assert all("refused 3 times" in (m.reason or "") for m in msgs)
    assert all(m.error_code == "throttled" for m in msgs)


async def test_final_refusal_fails_at_once(settings: Settings, started: list[Gateway]) -> None:
    gw = await _gateway(_settings(settings, {"accept_rate": 0.0}), started)
    account = await _account(gw)
    ids = await submit(gw, account, NUMBERS[:3])
    msgs = await reach(gw, account, ids, {Status.FAILED})
    assert all(m.attempts == 1 and m.error_code == "refused" for m in msgs)
    assert [e.status for e in msgs[0].events] == [Status.QUEUED, Status.SENDING, Status.FAILED]


async def test_final_state_mix_is_deterministic_under_a_seed(
    settings: Settings, started: list[Gateway]
) -> None:
    mix = {"delivered": 0.5, "undelivered": 0.3, "expired": 0.2}
    gw = await _gateway(_settings(settings, {"final_mix": mix, "seed": 7}), started)
    account = await _account(gw)
    ids = await submit(gw, account, NUMBERS[:60])
    finals = {Status.DELIVERED, Status.UNDELIVERED, Status.EXPIRED}
    msgs = await reach(gw, account, ids, finals)
    assert {m.status for m in msgs} == finals
    sim = gw.connectors["sim"]
    from textgate.connectors.simulator import SimulatorConnector

    assert isinstance(sim, SimulatorConnector)
    assert all(sim.final_state(m.id) == m.status for m in msgs)


async def test_expired_lease_is_recovered_and_the_old_holder_is_fenced(
    settings: Settings, started: list[Gateway]
) -> None:
    gw = await _gateway(settings, started, dispatch=False)
    account = await _account(gw)
    [mid] = await submit(gw, account, NUMBERS[:1])
    dead = DispatchQueue(gw.db, "worker-that-dies")
    alive = DispatchQueue(gw.db, "worker-that-lives")
    now = system_clock()
    [claim] = await dead.claim(now=now, lease_ms=1000, limit=10)
    assert await alive.claim(now=now + 500, lease_ms=1000, limit=10) == []
    [recovered] = await alive.claim(now=now + 1001, lease_ms=1000, limit=10)
    assert recovered.id == mid and recovered.recovered and recovered.attempts == 2
    # The first holder wakes up late: its result must not overwrite the new claim.
    await dead.record(now=now + 1100, sent=[Sent(claim, "sim", "late-id")])
    msg = await gw.services.messages.get(account.id, mid)
    assert msg.status == Status.SENDING and msg.external_id is None
    await alive.record(now=now + 1200, sent=[Sent(recovered, "sim", "good-id")])
    msg = await gw.services.messages.get(account.id, mid)
    assert msg.status == Status.SENT and msg.external_id == "good-id"
    assert "recovered" in (msg.events[2].detail or "")


async def test_report_before_the_send_is_recorded_is_kept(
    settings: Settings, started: list[Gateway]
) -> None:
    gw = await _gateway(settings, started, dispatch=False)
    account = await _account(gw)
    [mid] = await submit(gw, account, NUMBERS[:1])
    queue = DispatchQueue(gw.db, "w")
    now = system_clock()
    [claim] = await queue.claim(now=now, lease_ms=60_000, limit=10)
    report = DeliveryReport("sim", "ext-1", Status.DELIVERED, from_ms(now + 5))
    assert await queue.apply_reports([report], now + 5) == 0  # parked: id not known yet
    await queue.record(now=now + 10, sent=[Sent(claim, "sim", "ext-1")])
    msg = await gw.services.messages.get(account.id, mid)
    assert msg.status == Status.DELIVERED
    assert [e.status for e in msg.events][-2:] == [Status.SENT, Status.DELIVERED]


async def test_reports_never_move_a_message_backwards(
    settings: Settings, started: list[Gateway]
) -> None:
    gw = await _gateway(settings, started, dispatch=False)
    account = await _account(gw)
    [mid] = await submit(gw, account, NUMBERS[:1])
    queue = DispatchQueue(gw.db, "w")
    now = system_clock()
    [claim] = await queue.claim(now=now, lease_ms=60_000, limit=10)
    await queue.record(now=now, sent=[Sent(claim, "sim", "e")])
    at = from_ms(now)
    await queue.apply_reports([DeliveryReport("sim", "e", Status.DELIVERED, at)], now)
    await queue.apply_reports([DeliveryReport("sim", "e", Status.BUFFERED, at)], now)
    msg = await gw.services.messages.get(account.id, mid)
    assert msg.status == Status.DELIVERED


class SilentOperator:
    """Accepts everything, never pushes a report, but answers queries."""

    name = "silent"
    report_query_after_ms = 0

    def __init__(self) -> None:
        self.queried: list[str] = []

    async def start(self, sink: ReportSink, inbound: InboundSink | None = None) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def submit(
        self,
        batch: Sequence[Submission],
        done: OutcomeSink | None = None,
        gate: HandoffGate | None = None,
    ) -> list[Outcome]:
        return [Outcome(s.message_id, external_id=f"x-{s.message_id}") for s in batch]

    async def query(self, refs: Sequence[QueryRef]) -> list[DeliveryReport]:
        self.queried += [r.external_id for r in refs]
        return [
            DeliveryReport(self.name, r.external_id, Status.DELIVERED, from_ms(system_clock()))
            for r in refs
        ]


async def test_overdue_reports_are_queried(settings: Settings, started: list[Gateway]) -> None:
    gw = await _gateway(settings, started, dispatch=False)
    account = await _account(gw)
    ids = await submit(gw, account, NUMBERS[:5])
    operator = SilentOperator()
    dispatcher = Dispatcher(
        gw.queue,
        {"silent": operator},
        default_connector="silent",
        settings=DispatchSettings(poll_seconds=0.05),
    )
    await dispatcher.start()
    try:
        msgs = await reach(gw, account, ids, {Status.DELIVERED})
    finally:
        await dispatcher.stop()
    assert sorted(operator.queried) == sorted(f"x-{m.id}" for m in msgs)


async def test_shutdown_drains_in_flight_batches(
    settings: Settings, started: list[Gateway]
) -> None:
    gw = await _gateway(
        _settings(settings, {"latency_ms": 400, "report_delay_ms": 60_000}), started
    )
    account = await _account(gw)
    ids = await submit(gw, account, NUMBERS[:10])
    await reach(gw, account, ids, {Status.SENDING})
    started.remove(gw)
    await gw.stop()
    reopened = Gateway(settings)
    await reopened.start(dispatch=False)
    started.append(reopened)
    msgs = await reopened.services.messages.search(account.id, MessageFilter(), limit=100)
    assert {m.status for m in msgs} == {Status.SENT}


class SlowOperator(SilentOperator):
    """Takes longer than a lease to answer each batch and counts what it was given."""

    name = "slow"

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.seen: list[str] = []

    async def submit(
        self,
        batch: Sequence[Submission],
        done: OutcomeSink | None = None,
        gate: HandoffGate | None = None,
    ) -> list[Outcome]:
        self.seen += [s.message_id for s in batch]
        await asyncio.sleep(self.delay)
        return await super().submit(batch)


async def test_leases_are_renewed_while_a_slow_batch_is_in_flight(
    settings: Settings, started: list[Gateway]
) -> None:
    gw = await _gateway(settings, started, dispatch=False)
    account = await _account(gw)
    ids = await submit(gw, account, NUMBERS[:5])
    # Answers after two and a half leases. A lease is renewed once a third of it has passed,
    # checked every third: a pause of the event loop of up to a third of a lease (here
    # 0.67 s, which a busy machine can cause) still finds it renewed in time.
    operator = SlowOperator(delay=5.0)
    opts = DispatchSettings(poll_seconds=0.05, lease_seconds=2.0)
    workers = [
        Dispatcher(
            DispatchQueue(gw.db, f"w{i}"),
            {"slow": operator},
            default_connector="slow",
            settings=opts,
        )
        for i in range(2)
    ]
    for w in workers:
        await w.start()
    try:
        await reach(gw, account, ids, {Status.SENT, Status.DELIVERED})
    finally:
        for w in workers:
            await w.stop()
    # The second worker polled all along but never took over a lease that was being renewed.
    assert sorted(operator.seen) == sorted(ids)
