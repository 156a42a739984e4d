"""The feed's cursor over message_events: ids that become visible out of order (PostgreSQL
commits them in any order) are delivered when they appear, and nothing is fed twice."""

from __future__ import annotations

from textgate.core.accounts import Account
from textgate.storage.accounts import AccountRepo
from textgate.storage.db import Database
from textgate.storage.secrets import SecretBox
from textgate.storage.txn import Many, Query, Txn
from textgate.storage.webhook_feed import WebhookFeed
from textgate.storage.webhooks import WebhookRepo


async def _setup(db: Database) -> Account:
    account = await AccountRepo(db).create("acme")
    await WebhookRepo(db, SecretBox("test key")).create(
        account.id, "http://127.0.0.1:9/", ["message.*"], "x" * 20
    )

    def txn() -> Txn[None]:
        yield Many(
            "INSERT INTO messages (id, order_id, account_id, interface, recipient, text,"
            " encoding, segments, status, created_at, updated_at)"
            " VALUES ('M1', 'O1', ?, 'native', '+33612345678', 'hi', 'gsm7', 1, 'sent', 0, 0)",
            [(account.id,)],
        )

    await db.txn(txn)
    return account


async def _events(db: Database, *ids: int) -> None:
    def txn() -> Txn[None]:
        yield Many(
            "INSERT INTO message_events (id, message_id, status, at) VALUES (?, 'M1', 'sent', 0)",
            [(i,) for i in ids],
        )

    await db.txn(txn)


async def _state(db: Database) -> tuple[str, list[str]]:
    def txn() -> Txn[tuple[str, list[str]]]:
        cursor = yield Query("SELECT position FROM webhook_cursors WHERE source = 'message_events'")
        rows = yield Query("SELECT event_id FROM webhook_deliveries ORDER BY event_id")
        assert cursor is not None
        return cursor[0]["position"], [r["event_id"] for r in rows or ()]

    return await db.txn(txn)


async def test_late_ids_are_fed_and_the_cursor_waits_for_them(db: Database) -> None:
    await _setup(db)
    feed = WebhookFeed(db)

    async def run(now: int) -> int:
        return await feed.run_once(now=now, batch=100, gap_grace_ms=1000, settle_ms=0)

    await run(0)  # creates the cursors at the current end
    await _events(db, 1, 3)
    await run(10)
    assert await _state(db) == ("1", ["evt_msg_1", "evt_msg_3"])
    # 2 commits late: still delivered, and the cursor moves past it.
    await _events(db, 2)
    await run(20)
    assert await _state(db) == ("3", ["evt_msg_1", "evt_msg_2", "evt_msg_3"])
    # A gap that stays empty (a rolled-back insert) is given up after the grace period.
    await _events(db, 5)
    await run(30)
    assert (await _state(db))[0] == "3"
    await run(2000)
    assert (await _state(db))[0] == "5"
    # A restarted process (no memory) reading again from the cursor adds nothing twice.
    await _events(db, 4)
    fresh = WebhookFeed(db)
    await fresh.run_once(now=3000, batch=100, gap_grace_ms=1000, settle_ms=0)
    assert (await _state(db))[1] == [f"evt_msg_{i}" for i in (1, 2, 3, 5)]


async def test_without_subscriptions_the_feed_skips_to_the_end_without_reading(
    db: Database,
) -> None:
    account = await AccountRepo(db).create("acme")

    def message() -> Txn[None]:
        yield Many(
            "INSERT INTO messages (id, order_id, account_id, interface, recipient, text,"
            " encoding, segments, status, created_at, updated_at)"
            " VALUES ('M1', 'O1', ?, 'native', '+33612345678', 'hi', 'gsm7', 1, 'sent', 0, 0)",
            [(account.id,)],
        )

    await db.txn(message)
    feed = WebhookFeed(db)
    await _events(db, 1)  # cursor created at the end on first use
    assert await feed.run_once(now=1_000, batch=100, gap_grace_ms=60_000, settle_ms=0) == 0
    await _events(db, 2, 3, 4)
    assert await feed.run_once(now=2_000, batch=100, gap_grace_ms=60_000, settle_ms=0) == 0
    assert await _state(db) == ("4", [])
    # A subscription made now hears of what happens from now on.
    await WebhookRepo(db, SecretBox("test key")).create(
        account.id, "http://127.0.0.1:9/", ["message.*"], "x" * 20
    )
    await _events(db, 5)
    assert await feed.run_once(now=3_000, batch=100, gap_grace_ms=60_000, settle_ms=0) == 1
    assert (await _state(db))[1] == ["evt_msg_5"]
