"""The dispatch queue's side of the delivery contract, against the real database: outcomes
per kind, validity, late answers, own claims after a restart, receipts matched from stored
state (any base, any process, early ones parked), the receipt window."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from textgate.config import Settings
from textgate.core.accounts import Account
from textgate.core.clock import from_ms, system_clock
from textgate.core.external_ids import id_key, match_keys
from textgate.core.message import DeliveryReport, Message, Status
from textgate.runtime import Gateway
from textgate.services.submit import SubmitRequest
from textgate.storage.queue import (
    IN_DOUBT,
    WAITING,
    DispatchQueue,
    Doubt,
    LateSent,
    Sent,
    Wait,
)

LEASE = 60_000


@pytest.fixture
async def gw(settings: Settings) -> AsyncIterator[Gateway]:
    gateway = Gateway(settings)
    await gateway.start(dispatch=False, migrate=True)
    yield gateway
    await gateway.stop()


async def _message(gw: Gateway, n: int = 1) -> tuple[Account, list[str]]:
    account = await gw.services.accounts.create(f"acct-{n}")
    numbers = [f"+3361234{i:04d}" for i in range(n)]
    result = await gw.services.submit.submit(
        SubmitRequest(account=account, recipients=numbers, text="t")
    )
    return account, [m.id for m in result.messages]


async def _get(gw: Gateway, account: Account, mid: str) -> Message:
    return await gw.services.messages.get(account.id, mid)


@pytest.mark.parametrize(
    ("external_id", "key", "keys"),
    [
        ("0001A2F", "1a2f", ("1a2f", "6703")),
        ("6703", "6703", ("6703", "1a2f", "26371")),
        ("abc-1", "abc-1", ("abc-1",)),
        ("0", "0", ("0",)),
        (" 00ff ", "ff", ("ff", "255")),
    ],
)
def test_id_keys(external_id: str, key: str, keys: tuple[str, ...]) -> None:
    assert id_key(external_id) == key
    assert match_keys(external_id) == keys


@pytest.mark.parametrize(
    ("submitted", "reported"),
    [("0001A2F", "6703"), ("6703", "1a2f"), ("6703", "00001A2F"), ("abc-9", "abc-9")],
)
async def test_a_receipt_matches_its_id_in_either_base(
    gw: Gateway, submitted: str, reported: str
) -> None:
    account, [mid] = await _message(gw)
    now = system_clock()
    [claim] = await gw.queue.claim(now=now, lease_ms=LEASE, limit=10)
    await gw.queue.record(now=now, sent=[Sent(claim, "smsc", submitted)])
    report = DeliveryReport("smsc", reported, Status.DELIVERED, from_ms(now))
    assert await gw.queue.apply_reports([report], now) == 1
    assert (await _get(gw, account, mid)).status == Status.DELIVERED


async def test_an_early_receipt_waits_for_its_id_across_processes(
    gw: Gateway, settings: Settings
) -> None:
    account, [mid] = await _message(gw)
    now = system_clock()
    [claim] = await gw.queue.claim(now=now, lease_ms=LEASE, limit=10)
    # Another process takes the receipt before this one recorded the submit_sm_resp.
    other = DispatchQueue(gw.db, "other-process")
    early = DeliveryReport("smsc", "6703", Status.DELIVERED, from_ms(now))
    assert await other.apply_reports([early], now) == 0
    assert (await _get(gw, account, mid)).status == Status.SENDING
    # Recorded in hex: the parked decimal receipt applies as the id is stored.
    await gw.queue.record(now=now + 5, sent=[Sent(claim, "smsc", "1A2F")])
    assert (await _get(gw, account, mid)).status == Status.DELIVERED


async def test_a_wait_gives_the_attempt_back_and_is_told_once(gw: Gateway) -> None:
    account, [mid] = await _message(gw)
    now = system_clock()
    for i in range(3):
        [claim] = await gw.queue.claim(now=now + i * 10, lease_ms=LEASE, limit=10)
        assert claim.attempts == 1
        await gw.queue.record(now=now + i * 10, waits=[Wait(claim, now + i * 10 + 1, "down")])
    msg = await _get(gw, account, mid)
    assert (msg.status, msg.attempts, msg.error_code) == (Status.QUEUED, 0, WAITING)
    details = [(e.status, e.detail) for e in msg.events]
    assert details.count((Status.QUEUED, "waiting for a link: down")) == 1
    assert [s for s, _ in details].count(Status.SENDING) == 1


async def test_waiting_ends_at_validity_with_the_last_reason(gw: Gateway) -> None:
    account, [mid] = await _message(gw)
    now = system_clock()
    [claim] = await gw.queue.claim(now=now, lease_ms=LEASE, limit=10, validity_ms=1_000)
    await gw.queue.record(now=now, waits=[Wait(claim, now + 10, "smpp carrier: not bound")])
    assert await gw.queue.claim(now=now + 2_000, lease_ms=LEASE, limit=10, validity_ms=1_000) == []
    msg = await _get(gw, account, mid)
    assert (msg.status, msg.error_code) == (Status.EXPIRED, "validity")
    assert "validity ended" in (msg.events[-1].detail or "")
    assert "not bound" in (msg.events[-1].detail or "")


async def test_waiting_ends_at_the_validity_the_client_asked_for(gw: Gateway) -> None:
    account = await gw.services.accounts.create("validity")
    until = system_clock() + 5_000
    result = await gw.services.submit.submit(
        SubmitRequest(
            account=account, recipients=["+33612340000"], text="t", valid_until=from_ms(until)
        )
    )
    [mid] = [m.id for m in result.messages]
    # Read after the submit: the message is due from the time it was stored.
    now = system_clock()
    # The client's validity, not the dispatcher's default of two days.
    [claim] = await gw.queue.claim(now=now, lease_ms=LEASE, limit=10)
    assert claim.valid_until == until
    await gw.queue.record(now=now, waits=[Wait(claim, now + 10, "smpp carrier: not bound")])
    [again] = await gw.queue.claim(now=until - 1_000, lease_ms=LEASE, limit=10)
    await gw.queue.record(now=until - 1_000, waits=[Wait(again, until - 990, "still not bound")])
    assert await gw.queue.claim(now=until, lease_ms=LEASE, limit=10) == []
    msg = await _get(gw, account, mid)
    assert (msg.status, msg.error_code) == (Status.EXPIRED, "validity")
    assert msg.valid_until == from_ms(until)


async def test_a_late_answer_records_a_message_in_doubt_as_sent(gw: Gateway) -> None:
    account, [a, b] = await _message(gw, 2)
    now = system_clock()
    claims = {c.id: c for c in await gw.queue.claim(now=now, lease_ms=LEASE, limit=10)}
    await gw.queue.record(
        now=now, doubts=[Doubt(claims[a], now + 100, "timeout"), Doubt(claims[b], now, "t")]
    )
    msg = await _get(gw, account, a)
    assert (msg.status, msg.error_code) == (Status.QUEUED, IN_DOUBT)
    # b's grace is over: claimed again (it is in doubt) before its answer comes.
    [again] = await gw.queue.claim(now=now + 50, lease_ms=LEASE, limit=10)
    assert again.id == b and again.in_doubt
    late = [LateSent(a, "smsc", "x1"), LateSent(b, "smsc", "x2")]
    assert await gw.queue.record_late(late, now=now + 60) == 1
    msg = await _get(gw, account, a)
    assert (msg.status, msg.external_id) == (Status.SENT, "x1")
    assert any("after the response timeout" in (e.detail or "") for e in msg.events)
    assert (await _get(gw, account, b)).status == Status.SENDING


async def test_a_restarted_worker_takes_its_own_claims_back_at_once(gw: Gateway) -> None:
    account, [mid] = await _message(gw)
    now = system_clock()
    [claim] = await DispatchQueue(gw.db, "worker-a").claim(now=now, lease_ms=LEASE, limit=10)
    restarted = DispatchQueue(gw.db, "worker-a")
    stranger = DispatchQueue(gw.db, "worker-b")
    assert await stranger.reclaim_own(now=now + 1) == 0
    assert await stranger.claim(now=now + 1, lease_ms=LEASE, limit=10) == []
    assert await restarted.reclaim_own(now=now + 1) == 1
    [back] = await restarted.claim(now=now + 1, lease_ms=LEASE, limit=10)
    assert back.id == claim.id and back.recovered and back.in_doubt
    assert (await _get(gw, account, mid)).attempts == 2


async def test_no_report_within_the_receipt_window_ends_the_message(gw: Gateway) -> None:
    account, [mid] = await _message(gw)
    now = system_clock()
    [claim] = await gw.queue.claim(now=now, lease_ms=LEASE, limit=10)
    sent = Sent(claim, "smsc", "e1", report_check_at=now + 10, report_due_at=now + 1_000)
    await gw.queue.record(now=now, sent=[sent])
    checks = await gw.queue.due_report_checks(now=now + 20, limit=10, recheck_ms=600_000)
    assert [(c.external_id, c.connector) for c in checks] == [("e1", "smsc")]
    assert (await _get(gw, account, mid)).status == Status.SENT
    # The next check is at the end of the window, not ten minutes later; then it ends.
    assert await gw.queue.due_report_checks(now=now + 999, limit=10, recheck_ms=600_000) == []
    assert await gw.queue.due_report_checks(now=now + 1_000, limit=10, recheck_ms=600_000) == []
    msg = await _get(gw, account, mid)
    assert (msg.status, msg.error_code) == (Status.EXPIRED, "no_report")
    # A receipt that comes after all says what happened: "no report" was a guess.
    late = DeliveryReport("smsc", "e1", Status.DELIVERED, from_ms(now))
    assert await gw.queue.apply_reports([late], now + 2_000) == 1
    msg = await _get(gw, account, mid)
    assert msg.status == Status.DELIVERED
    assert [e.status for e in msg.events][-2:] == [Status.EXPIRED, Status.DELIVERED]
    # A further intermediate report changes nothing.
    buffered = DeliveryReport("smsc", "e1", Status.BUFFERED, from_ms(now))
    assert await gw.queue.apply_reports([buffered], now + 3_000) == 0


async def test_one_receipt_applied_twice_at_once_is_one_status_change(gw: Gateway) -> None:
    """Two processes apply the same final receipt at the same moment (a provider's push and
    a status query, two workers): one of them changes the message, the other finds it
    final; one ``delivered`` event, so one webhook and one notification. On SQLite the
    writer serialises them; on PostgreSQL the messages read are locked."""
    account, mids = await _message(gw, 20)
    now = system_clock()
    claims = await gw.queue.claim(now=now, lease_ms=LEASE, limit=50)
    await gw.queue.record(now=now, sent=[Sent(c, "smsc", f"ext-{i}") for i, c in enumerate(claims)])
    reports = [
        DeliveryReport("smsc", f"ext-{i}", Status.DELIVERED, from_ms(now))
        for i in range(len(claims))
    ]
    queues = [DispatchQueue(gw.db, f"process-{n}") for n in range(4)]
    # Each process gets the receipts in its own order, as a push and a poll would.
    orders = [reports, reports[::-1], reports[5:] + reports[:5], reports[::2] + reports[1::2]]
    applied = await asyncio.gather(
        *(q.apply_reports(batch, now + 10) for q, batch in zip(queues, orders, strict=True))
    )
    assert sum(applied) == len(mids)
    for mid in mids:
        events = (await _get(gw, account, mid)).events
        assert [e.status for e in events].count(Status.DELIVERED) == 1, events
