"""The group-commit order writer."""

from __future__ import annotations

import asyncio

from textgate.core.clock import from_ms, system_clock
from textgate.core.ids import IdGenerator
from textgate.core.message import Message, Order, Status
from textgate.errors import Conflict
from textgate.loops import LoopRegistry
from textgate.storage.accounts import AccountRepo
from textgate.storage.db import Database
from textgate.storage.messages import MessageFilter, MessageRepo
from textgate.storage.orders import OrderWrite, OrderWriter


def _write(account_id: str, ids: IdGenerator, order_id: str | None = None) -> OrderWrite:
    now = system_clock()
    oid = order_id or ids(now)
    msg = Message(
        id=ids(now),
        order_id=oid,
        account_id=account_id,
        recipient="+33612345678",
        sender=None,
        text="x",
        encoding="gsm7",
        segments=1,
        status=Status.QUEUED,
        created_at=from_ms(now),
        updated_at=from_ms(now),
    )
    order = Order(
        id=oid,
        account_id=account_id,
        created_at=from_ms(now),
        interface="test",
        client_ref=None,
        recipients=1,
    )
    return OrderWrite(order, [msg])


async def test_a_bad_order_does_not_fail_its_batch_neighbours(db: Database) -> None:
    account = await AccountRepo(db).create("a")
    writer = OrderWriter(db)
    await writer.start()
    ids = IdGenerator()
    try:
        first = _write(account.id, ids)
        await writer.commit(first)
        results = await asyncio.gather(
            writer.commit(_write(account.id, ids)),
            writer.commit(_write(account.id, ids, order_id=first.order.id)),  # duplicate key
            writer.commit(_write(account.id, ids)),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
    assert not isinstance(results[0], BaseException)
    assert isinstance(results[1], Conflict)
    assert not isinstance(results[2], BaseException)
    stored = await MessageRepo(db).search(account.id, MessageFilter(), limit=10)
    assert len(stored) == 3


async def test_the_writer_goes_on_after_a_failure_outside_the_write(db: Database) -> None:
    """A failure the writer's own handling does not cover (here the wake-up callback)
    neither kills its loop nor leaves anyone waiting."""
    account = await AccountRepo(db).create("a")
    loops = LoopRegistry()
    calls = 0

    def on_commit() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("wake-up failed")

    writer = OrderWriter(db, on_commit=on_commit, loops=loops)
    await writer.start()
    ids = IdGenerator()
    try:
        first = await writer.commit(_write(account.id, ids))
        second = await writer.commit(_write(account.id, ids))
    finally:
        await writer.stop()
    assert first.refused is None and second.refused is None and calls == 2
    health = loops.health("order-writer")
    assert health.failures_total == 1 and health.failures == 0
    assert health.last_error == "RuntimeError: wake-up failed"


def test_ids_are_monotonic_within_a_millisecond() -> None:
    ids = IdGenerator()
    made = [ids(1_700_000_000_000) for _ in range(1000)]
    assert made == sorted(made) and len(set(made)) == 1000
    assert ids(1_699_999_999_999) > made[-1]  # a clock step back never goes backwards


async def test_orders_queued_a_loop_turn_apart_share_one_transaction(db: Database) -> None:
    """Requests parsed in the turn after the first order's (their bytes came in the next
    read) still join its transaction: one commit for both, not one each."""
    account = await AccountRepo(db).create("a")
    writer = OrderWriter(db)
    await writer.start()
    ids = IdGenerator()
    try:
        await writer.commit(_write(account.id, ids))  # the writer is idle again after this
        before = writer.batches

        async def a_turn_later() -> None:
            await asyncio.sleep(0)
            await writer.commit(_write(account.id, ids))

        await asyncio.gather(writer.commit(_write(account.id, ids)), a_turn_later())
    finally:
        await writer.stop()
    assert writer.batches - before == 1
    stored = await MessageRepo(db).search(account.id, MessageFilter(), limit=10)
    assert len(stored) == 3
