"""SmppConnector: several binds, the rate limit, back-pressure and query_sm."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tests.connectors.smpp.peer import FakeSmsc, VirtualTime, until
from tests.connectors.smpp.test_connector import Sink, make, sink, smsc, sub
from tests.support import WAIT
from textgate.connectors.base import QueryableConnector, QueryRef, Submission
from textgate.connectors.smpp.constants import CommandStatus, MessageState
from textgate.connectors.smpp.pacing import AdaptiveRate, Backpressure, TokenBucket
from textgate.connectors.smpp.pdus import DeliverSm, QuerySm, SubmitSm
from textgate.connectors.smpp.query import parse_absolute_time
from textgate.connectors.smpp.shortmessage import decode_short_message
from textgate.core.message import Status
from textgate.errors import ConnectorError, Handoff

__all__ = ["sink", "smsc"]  # fixtures shared with test_connector

_S = CommandStatus


def receipt_pdu(message_id: str) -> DeliverSm:
    text = (
        f"id:{message_id} sub:001 dlvrd:001 submit date:2611220100 "
        "done date:2611220101 stat:DELIVRD err:000"
    )
    return DeliverSm(sequence_number=0, esm_class=0x04, short_message=text.encode())


def batch(n: int, recipient: str = "+4915100000") -> list[Submission]:
    return [Submission(f"msg-{i}", recipient, None, f"n{i}", "gsm7", 1) for i in range(n)]


# ---------------------------------------------------------------------------- binds


async def test_binds_spread_the_load(smsc: FakeSmsc, sink: Sink) -> None:
    smsc.submit_delay = 0.05  # keep every message in progress while the batch is spread
    conn = make(smsc, binds=3)
    await conn.start(sink)
    try:
        assert conn.bound_links == 3
        outcomes = await conn.submit(batch(30))
    finally:
        await conn.stop()
    assert all(o.error is None for o in outcomes)
    assert len({o.external_id for o in outcomes}) == 30
    assert sorted(smsc.by_conn.values()) == [10, 10, 10]


async def test_a_dead_bind_returns_its_messages_retryable(smsc: FakeSmsc, sink: Sink) -> None:
    smsc.hold = {"4915100000"}
    conn = make(smsc, binds=2)
    await conn.start(sink)
    try:
        task = asyncio.create_task(conn.submit(batch(4)))
        await until(lambda: len(smsc.submits) == 4)
        assert sorted(smsc.by_conn.values()) == [2, 2]
        await smsc.drop_conn(1)
        await until(lambda: conn.bound_links == 1)
        smsc.release.set()
        outcomes = await asyncio.wait_for(task, WAIT)
        failed = [o.error for o in outcomes if o.error is not None]
        assert len(failed) == 2 and all(e.retryable for e in failed)
        assert sum(1 for o in outcomes if o.external_id) == 2
        assert [link.busy for link in conn._pool.links] == [0, 0]  # nothing left counted
        # The other bind carries on while the dead one rebinds.
        [outcome] = await conn.submit([sub()])
        assert outcome.error is None
        await until(lambda: conn.bound_links == 2)
    finally:
        await conn.stop()


async def test_submit_raises_only_when_no_bind_is_up(smsc: FakeSmsc, sink: Sink) -> None:
    conn = make(smsc, binds=2, reconnect_initial=5.0)
    await conn.start(sink)
    try:
        await smsc.drop_conn(1)
        await until(lambda: conn.bound_links == 1)
        assert conn.bound
        [outcome] = await conn.submit([sub()])
        assert outcome.error is None
        await smsc.drop_conn(2)
        await until(lambda: not conn.bound)
        with pytest.raises(ConnectorError) as info:
            await conn.submit([sub()])
        assert info.value.retryable and info.value.code == "smpp_not_bound"
    finally:
        await conn.stop()


async def test_receipts_arrive_on_any_bind(smsc: FakeSmsc, sink: Sink) -> None:
    conn = make(smsc, binds=2)
    await conn.start(sink)
    try:
        outcomes = await conn.submit(batch(2))
        for conn_id, outcome in zip((1, 2), outcomes, strict=True):
            assert outcome.external_id is not None
            resp = await smsc.push(receipt_pdu(outcome.external_id), conn=conn_id)
            assert resp.command_status == _S.ESME_ROK
    finally:
        await conn.stop()
    assert sorted(r.external_id for r in sink.reports) == sorted(
        o.external_id or "" for o in outcomes
    )


# ---------------------------------------------------------------------------- max_rate


def test_token_bucket_caps_every_one_second_window() -> None:
    clock = VirtualTime()
    bucket = TokenBucket(10, 3, clock=clock, sleep=clock.sleep)
    taken: list[float] = []

    async def run() -> None:
        for _ in range(50):
            await bucket.take()
            taken.append(clock.now)
        clock.now += 60  # idle: the bucket refills, but only up to the burst
        for _ in range(20):
            await bucket.take()
            taken.append(clock.now)

    asyncio.run(run())
    for start in taken:
        in_window = sum(1 for t in taken if start <= t < start + 1.0)
        assert in_window <= 10 + 3
    assert taken[:3] == [0.0, 0.0, 0.0]  # the burst
    assert taken[49] == pytest.approx(4.7)  # then one token every 0.1 s
    after_idle = [t for t in taken[50:] if t == taken[50]]
    assert len(after_idle) == 3


def test_token_bucket_without_rate_never_sleeps() -> None:
    clock = VirtualTime()
    bucket = TokenBucket(0, 1, clock=clock, sleep=clock.sleep)

    async def run() -> None:
        for _ in range(1000):
            await bucket.take()

    asyncio.run(run())
    assert clock.sleeps == []


async def test_max_rate_spans_all_binds(smsc: FakeSmsc, sink: Sink) -> None:
    clock = VirtualTime()
    conn = make(smsc, clock=clock, binds=2, max_rate=20, rate_burst=4)
    await conn.start(sink)
    try:
        outcomes = await conn.submit(batch(44))
    finally:
        await conn.stop()
    assert all(o.error is None for o in outcomes)
    assert len(smsc.by_conn) == 2 and sum(smsc.by_conn.values()) == 44
    # 4 from the full bucket, the other 40 at 20 per second of virtual time.
    assert clock.now == pytest.approx(40 / 20)


# ---------------------------------------------------------------------------- throttling


def parts_of(pdus: list[SubmitSm]) -> list[tuple[int, int]]:
    out = []
    for pdu in pdus:
        concat = decode_short_message(pdu.short_message, pdu.data_coding, pdu.esm_class).concat
        assert concat is not None
        out.append((concat.ref, concat.seq))
    return out


async def test_a_throttled_part_is_sent_again_under_the_same_reference(
    smsc: FakeSmsc, sink: Sink
) -> None:
    clock = VirtualTime()
    conn = make(smsc, clock=clock, throttle_backoff_initial=0.5, throttle_backoff_max=4)
    await conn.start(sink)
    try:
        smsc.script.extend([_S.ESME_ROK, _S.ESME_RTHROTTLED, _S.ESME_RMSGQFUL])
        [outcome] = await conn.submit([sub("x" * 400)])  # three parts
        assert outcome.error is None
        # Part 2 went out three times, but was accepted once: no duplicate part.
        seqs = [seq for _, seq in parts_of(smsc.submits)]
        assert seqs == [1, 2, 2, 2, 3]
        accepted = parts_of(smsc.accepted)
        assert [seq for _, seq in accepted] == [1, 2, 3] and len({r for r, _ in accepted}) == 1
        assert outcome.external_id == "m3"
        # Two refusals among acceptances are about that message, not the link: no pause.
        assert clock.sleeps == [] and conn.rate.limit == 0
    finally:
        await conn.stop()


async def test_throttling_that_persists_slows_the_link_and_the_message_waits_unsent(
    smsc: FakeSmsc, sink: Sink
) -> None:
    clock = VirtualTime()
    conn = make(smsc, clock=clock, throttle_retries=0, throttle_backoff_initial=0.5)
    await conn.start(sink)
    try:
        smsc.script.extend([_S.ESME_RTHROTTLED] * 6)
        outcomes = await conn.submit([sub(recipient=f"+49151000{i}") for i in range(6)])
        for outcome in outcomes:
            error = outcome.error
            assert error is not None and error.handoff is Handoff.NOT_SENT  # no attempt used
            assert error.code == "esme_rthrottled"
        # Refusal after refusal, to every destination: the link as a whole is throttled.
        # It pauses, then goes on at a lower rate.
        assert conn.rate.limit > 0
        [after] = await conn.submit([sub()])
        assert after.error is None
        assert clock.sleeps[0] == 0.5
    finally:
        await conn.stop()


def test_the_rate_halves_under_throttling_and_grows_back() -> None:
    clock = VirtualTime()
    rate = AdaptiveRate(
        0, 1, floor=1, pause_initial=0.1, pause_max=1, clock=clock, sleep=clock.sleep
    )
    for _ in range(100):  # 100 submit_sm in the first second, at full speed
        rate.sent()
        clock.now += 0.01
    epoch = rate.epoch
    for _ in range(5):  # then refusals, one after the other (a whole window: one signal)
        rate.throttled(epoch)
    assert 40 <= rate.limit <= 60  # halved from about 100/s, once for the burst
    low = rate.limit
    rate.throttled(rate.epoch)  # still throttled after the pause: halved again
    assert rate.limit == pytest.approx(low / 2)
    for _ in range(20):
        rate.accepted(rate.epoch)
    assert low / 2 < rate.limit < low  # growing back additively


def test_a_lone_refusal_among_acceptances_leaves_the_rate_alone() -> None:
    clock = VirtualTime()
    rate = AdaptiveRate(
        0, 1, floor=1, pause_initial=0.1, pause_max=1, clock=clock, sleep=clock.sleep
    )
    for _ in range(50):
        for _ in range(20):
            rate.accepted(rate.epoch)
        rate.throttled(rate.epoch)
    assert rate.limit == 0 and not rate.pause.paused


def test_late_refusals_do_not_stretch_a_pause() -> None:
    clock = VirtualTime()
    gate = Backpressure(1.0, 8.0, clock=clock, sleep=clock.sleep)
    sent_at = gate.epoch
    for _ in range(50):  # a whole window refused at once: one signal
        gate.refused(sent_at)
    assert gate.delay == 1.0 and gate.paused
    gate.accepted(sent_at)  # a stale success does not end the throttling either
    gate.refused(gate.epoch)
    assert gate.delay == 2.0
    gate.accepted(gate.epoch)
    assert gate.delay == 0.0


# ---------------------------------------------------------------------------- query_sm


async def test_query_sm_round_trip(smsc: FakeSmsc, sink: Sink) -> None:
    conn = make(smsc, query_after_ms=3_600_000)
    assert isinstance(conn, QueryableConnector)
    assert conn.report_query_after_ms == 3_600_000
    await conn.start(sink)
    try:
        outcomes = await conn.submit(
            [
                sub(sender="Shop"),
                Submission("msg-2", "+4915100000", "+4917000000", "hi", "gsm7", 1),
                Submission("msg-3", "+4915100000", None, "hi", "gsm7", 1),
            ]
        )
        shop, numeric, pending = (o.external_id or "" for o in outcomes)
        smsc.states = {shop: MessageState.DELIVERED, numeric: MessageState.UNDELIVERABLE}
        reports = await conn.query(
            [
                QueryRef(shop, "Shop"),
                QueryRef(numeric, "+4917000000"),
                QueryRef(pending),
            ]
        )
    finally:
        await conn.stop()
    assert {(r.external_id, r.status) for r in reports} == {
        (shop, Status.DELIVERED),
        (numeric, Status.UNDELIVERED),
    }
    assert all(r.connector == "smpp1" for r in reports)
    # final_date 261122010130004+ is 01:01:30 at UTC+1 (4 quarter hours).
    assert reports[0].at == datetime(2026, 11, 22, 0, 1, 30, tzinfo=UTC)
    # Each query repeated its message's source address (the peer refuses otherwise).
    queries = [p for p in smsc.received if isinstance(p, QuerySm)]
    assert sorted(q.message_id for q in queries) == sorted([shop, numeric, pending])
    by_id = {q.message_id: q for q in queries}
    assert (by_id[numeric].source_addr, by_id[numeric].source_addr_ton) == ("4917000000", 1)
    assert (by_id[shop].source_addr, by_id[shop].source_addr_ton) == ("Shop", 5)


async def test_query_is_off_by_default(smsc: FakeSmsc) -> None:
    assert not isinstance(make(smsc), QueryableConnector)


def test_absolute_time() -> None:
    assert parse_absolute_time("260101120000012-") == datetime(2026, 1, 1, 15, 0, tzinfo=UTC)
    assert parse_absolute_time("") is None
    assert parse_absolute_time("261399120000000+") is None


async def test_query_sm_of_a_message_sent_before_a_restart(smsc: FakeSmsc, sink: Sink) -> None:
    """The source address comes from the stored sender: a new connector (a restarted
    gateway) that never sent the message can still ask about it."""
    first = make(smsc, query_after_ms=1000)
    await first.start(sink)
    try:
        [outcome] = await first.submit([sub(sender="+4917000000")])
    finally:
        await first.stop()
    ext = outcome.external_id or ""
    smsc.states = {ext: MessageState.DELIVERED}
    second = make(smsc, query_after_ms=1000)
    await second.start(sink)
    try:
        [report] = await second.query([QueryRef(ext, "+4917000000")])
    finally:
        await second.stop()
    assert report.status == Status.DELIVERED
    [query] = [p for p in smsc.received if isinstance(p, QuerySm)]
    assert (query.source_addr, query.source_addr_ton) == ("4917000000", 1)
