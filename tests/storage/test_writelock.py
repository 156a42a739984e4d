"""Write turns: urgent work first, background work never starved, cancellation safe."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support import until
from textgate.storage.db import Database
from textgate.storage.writelock import WriteTurn


async def test_four_urgent_turns_then_one_background_turn() -> None:
    turn = WriteTurn(ratio=4)
    order: list[str] = []
    gate = asyncio.Event()

    async def work(name: str, urgent: bool) -> None:
        async with turn.hold(urgent=urgent):
            if name == "first":
                await gate.wait()
            order.append(name)

    first = asyncio.create_task(work("first", True))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(work(f"b{i}", False)) for i in range(2)]
    tasks += [asyncio.create_task(work(f"u{i}", True)) for i in range(6)]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, *tasks)
    assert order == ["first", "u0", "u1", "u2", "u3", "b0", "u4", "u5", "b1"]


async def test_a_cancelled_waiter_does_not_block_the_turn() -> None:
    turn = WriteTurn()
    async with turn.hold(urgent=True):
        waiter = asyncio.create_task(turn._acquire(False))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.sleep(0)
    async with asyncio.timeout(1), turn.hold(urgent=False):
        pass


async def test_link_turns_go_before_urgent_and_background_ones() -> None:
    turn = WriteTurn(ratio=4)
    order: list[str] = []
    gate = asyncio.Event()

    held = asyncio.Event()

    async def holder() -> None:
        async with turn.hold(urgent=True):
            held.set()
            await gate.wait()

    async def take(name: str, *, urgent: bool = False, link: bool = False) -> None:
        async with turn.hold(urgent=urgent, link=link):
            order.append(name)

    first = asyncio.create_task(holder())
    await held.wait()
    waiters = [
        asyncio.create_task(take("background")),
        asyncio.create_task(take("urgent", urgent=True)),
        asyncio.create_task(take("link-1", link=True)),
        asyncio.create_task(take("link-2", link=True)),
    ]
    await until(lambda: turn.waiting == 4, "the four writers to queue")
    gate.set()
    await asyncio.gather(first, *waiters)
    assert order == ["link-1", "link-2", "urgent", "background"]


async def test_a_core_write_for_a_link_takes_the_link_turn(tmp_path: Path) -> None:
    """``Database.write(link=True)`` (inbound messages) queues with the links on SQLite."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
    order: list[str] = []
    gate = asyncio.Event()

    held = asyncio.Event()

    async def holder() -> None:
        async with db.write():
            held.set()
            await gate.wait()

    async def take(name: str, *, urgent: bool = True, link: bool = False) -> None:
        async with db.write(urgent=urgent, link=link):
            order.append(name)

    try:
        first = asyncio.create_task(holder())
        await held.wait()
        waiters = [
            asyncio.create_task(take("background", urgent=False)),
            asyncio.create_task(take("urgent")),
            asyncio.create_task(take("link", link=True)),
        ]
        await until(lambda: db.writers_waiting == 3, "the three writers to queue")
        gate.set()
        await asyncio.gather(first, *waiters)
    finally:
        await db.dispose()
    assert order == ["link", "urgent", "background"]
