"""The storage side of links shared by a cluster: rate slots and bind leases (both databases)."""

from __future__ import annotations

from textgate.storage.db import Database
from textgate.storage.link_leases import LinkLeases
from textgate.storage.link_rates import LinkRates
from textgate.storage.migrate import upgrade


async def _db(url: str) -> Database:
    db = Database(url)
    await upgrade(db)
    return db


async def test_a_slot_grants_at_most_its_budget_in_chunks(db_url: str) -> None:
    db = await _db(db_url)
    try:
        rates = LinkRates(db)
        # A slot of a minute: all these reservations fall in the same one.
        slot_ms = 60_000.0
        first, left = await rates.reserve("carrier", 3, 5, slot_ms)
        second, _ = await rates.reserve("carrier", 3, 5, slot_ms)
        third, _ = await rates.reserve("carrier", 3, 5, slot_ms)
        other, _ = await rates.reserve("other", 3, 5, slot_ms)
    finally:
        await db.dispose()
    # A reservation made at the very end of a slot would start a new one: then the
    # sequence restarts, and this check would see 3, 3 (a fresh slot) instead of 3, 2.
    assert (first, second, third) in {(3, 2, 0), (3, 3, 2)}, (first, second, third)
    assert 0 <= left <= slot_ms
    assert other == 3, "each connector has its own budget"


async def test_binds_are_shared_out_and_taken_over_when_released(db_url: str) -> None:
    db = await _db(db_url)
    try:
        leases = LinkLeases(db)
        a = leases.owned_by("carrier", "worker-a")
        b = leases.owned_by("carrier", "worker-b")
        held_a, members = await a.hold(2, 60_000)
        assert (held_a, members) == ({0, 1}, 1), "alone, a process takes every bind"
        held_b, members = await b.hold(2, 60_000)
        assert (held_b, members) == (frozenset(), 2), "a bind held by a live lease is not taken"
        held_a, members = await a.hold(2, 60_000)
        assert (held_a, members) == ({0, 1}, 2), "more than its share: it is told so"
        await a.release({1})
        assert await b.hold(2, 60_000) == ({1}, 2)
        assert await a.hold(2, 60_000) == ({0}, 2), "renewal keeps what it holds"
        # One bind, two processes: one holds it, the other none; on leaving it passes on.
        c = leases.owned_by("one-bind", "worker-a")
        d = leases.owned_by("one-bind", "worker-b")
        assert (await c.hold(1, 60_000))[0] == {0}
        assert (await d.hold(1, 60_000))[0] == frozenset()
        await c.leave()
        assert await d.hold(1, 60_000) == ({0}, 1)
    finally:
        await db.dispose()


async def test_an_expired_lease_is_taken_over(db_url: str) -> None:
    db = await _db(db_url)
    try:
        leases = LinkLeases(db)
        crashed = leases.owned_by("carrier", "crashed")
        survivor = leases.owned_by("carrier", "survivor")
        # A lease of 1 ms: over by the time anyone looks again (a holder that died).
        assert (await crashed.hold(1, 1))[0] == {0}
        held: frozenset[int] = frozenset()
        for _ in range(100):  # the database clock must move past it: a few ms at most
            held, members = await survivor.hold(1, 60_000)
            if held:
                break
        assert held == {0} and members == 1, "the dead holder's membership ran out too"
        # The old holder comes back: the bind is not its own any more.
        assert await crashed.hold(1, 60_000) == (frozenset(), 2)
    finally:
        await db.dispose()
