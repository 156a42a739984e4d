"""LISTEN/NOTIFY: a commit in one process wakes the workers of another (PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import postgres_url
from textgate.config import Settings
from textgate.runtime import Gateway
from textgate.services.submit import SubmitRequest
from textgate.storage.notify import PgListener

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
