"""LISTEN/NOTIFY: a commit in one process wakes the workers of another (PostgreSQL)."""

from __future__ import annotations

import asyncio

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.support import postgres_url
from textgate.config import Settings
from textgate.runtime import Gateway
from textgate.services.submit import SubmitRequest
from textgate.storage.db import Database
from textgate.storage.notify import PgListener
from textgate.storage.txn import Query, Txn

pytestmark = pytest.mark.skipif(
    postgres_url() is None, reason="LISTEN/NOTIFY is PostgreSQL's; set TEXTGATE_TEST_DATABASE_URL"
)


async def test_a_committed_order_notifies_listeners(settings: Settings) -> None:
    woken = asyncio.Event()
    calls = 0

    def on_notify() -> None:
        nonlocal calls
        calls += 1
        if calls > 1:  # the first call is the catch-up made on connecting
            woken.set()

    gw = Gateway(settings)
    await gw.start(dispatch=False)
    listener = PgListener(gw.db.url, on_notify)
    await listener.start()
    try:
        for _ in range(100):
            if calls:
                break
            await asyncio.sleep(0.05)
        assert calls == 1
        account = await gw.services.accounts.create("notified")
        await gw.services.submit.submit(
            SubmitRequest(account=account, recipients=["+33612345678"], text="wake up")
        )
        await asyncio.wait_for(woken.wait(), 5)
    finally:
        await listener.stop()
        await gw.stop()


async def test_a_statement_sent_with_the_commit_is_part_of_the_transaction(db: Database) -> None:
    """``at_commit`` statements share the COMMIT's round trip: a NOTIFY there is heard
    once the transaction's rows are visible, and one that fails undoes the transaction."""
    admin = await asyncpg.connect(db.url.replace("postgresql+asyncpg://", "postgresql://", 1))
    heard: asyncio.Queue[str] = asyncio.Queue()
    await admin.add_listener("textgate_test", lambda *args: heard.put_nowait(args[-1]))

    def store(payload: str, then: str) -> Txn[None]:
        yield Query(
            "INSERT INTO gateway_settings (name, value) VALUES (?, ?)",
            (payload, "v"),
        )
        yield Query("", pg_sql=then, at_commit=True)

    async def stored(key: str) -> bool:
        row = await admin.fetchval("SELECT count(*) FROM gateway_settings WHERE name = $1", key)
        return bool(row)

    try:
        await db.txn(lambda: store("k1", "SELECT pg_notify('textgate_test', 'k1')"))
        assert await asyncio.wait_for(heard.get(), 5) == "k1"
        assert await stored("k1")
        with pytest.raises(asyncpg.DivisionByZeroError):
            await db.txn(lambda: store("k2", "SELECT 1 / 0"))
        assert not await stored("k2")
        # The connection the failed transaction ran on is usable again.
        await db.txn(lambda: store("k3", "SELECT pg_notify('textgate_test', 'k3')"))
        assert await asyncio.wait_for(heard.get(), 5) == "k3"
    finally:
        await admin.close()
