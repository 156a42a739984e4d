"""The outbox loops survive database errors that are not textgate's own, show them on
/readyz and /metrics meanwhile, and deliver once the database answers again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.exc import DBAPIError, OperationalError

from tests.support import PG_ENV, Running, postgres_url, until
from tests.webhooks.receiver import Receiver, running_receiver
from tests.webhooks.test_webhooks import FAST, _account, _start, _subscribe
from textgate.storage.notify import LOOP as LISTENER

# What the drivers raise on PostgreSQL under trouble, untranslated: the loop must outlive
# them whatever the storage boundary does (SQLSTATEs: PostgreSQL documentation, Appendix A).
FOREIGN: list[Exception] = [
    DBAPIError(
        "UPDATE webhook_deliveries ...",
        None,
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    ),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    OperationalError("SELECT 1", None, ConnectionResetError("connection reset by peer")),
    ConnectionRefusedError(111, "Connection refused"),
]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r


def _metric(body: str, name: str, loop: str) -> float | None:
    for line in body.splitlines():
        if line.startswith(f'{name}{{loop="{loop}"}} '):
            return float(line.split()[-1])
    return None


async def _readyz_names(running: Running, loop: str) -> bool:
    r = await running.client.get("/readyz")
    return r.status_code == 503 and loop in r.json().get("failing_loops", {})


async def _ready(running: Running) -> bool:
    r = await running.client.get("/readyz")
    return r.status_code == 200 and "failing_loops" not in r.json()


async def test_the_webhook_sender_outlives_foreign_errors_and_delivers(
    settings: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await _start(settings, FAST) as running:
        auth = await _account(running)
        await _subscribe(running, auth, receiver.url, ["message.*"])
        repo = running.gateway.webhook_repo
        real_claim: Callable[..., Awaitable[Any]] = repo.claim
        raised: list[Exception] = []
        healthy = asyncio.Event()

        async def claim(**kwargs: Any) -> Any:
            if not healthy.is_set():
                error = FOREIGN[len(raised) % len(FOREIGN)]
                raised.append(error)
                raise error
            return await real_claim(**kwargs)

        monkeypatch.setattr(repo, "claim", claim)
        r = await running.client.post(
            "/v1/messages", json={"to": "+33612345678", "text": "hi"}, headers=auth
        )
        assert r.status_code == 202, r.text

        await until(lambda: _readyz_names(running, "webhook-send"))
        body = (await running.client.get("/readyz")).json()
        state = body["failing_loops"]["webhook-send"]
        assert state["running"] is True
        assert state["failures"] >= 3
        assert state["last_error"].split(":")[0] in {type(e).__name__ for e in FOREIGN}
        metrics = (await running.client.get("/metrics")).text
        assert _metric(metrics, "textgate_loop_failing", "webhook-send") == 1.0
        failures = _metric(metrics, "textgate_loop_failures_total", "webhook-send")
        assert failures is not None and failures >= 3
        assert _metric(metrics, "textgate_loop_failing", "webhook-feed") == 0.0
        assert not receiver.hits

        healthy.set()
        # Submitted, sent and delivered: three events, each delivered despite the outage.
        await until(lambda: len(receiver.accepted()) >= 3)
        assert {h.event["type"] for h in receiver.accepted().values()} >= {
            "message.queued",
            "message.sent",
            "message.delivered",
        }
        await until(lambda: _ready(running))
        metrics = (await running.client.get("/metrics")).text
        assert _metric(metrics, "textgate_loop_failing", "webhook-send") == 0.0
        assert len(raised) >= 3


@pytest.mark.postgres
@pytest.mark.skipif(postgres_url() is None, reason=f"terminating backends needs {PG_ENV}")
async def test_terminated_backends_do_not_stop_delivery(settings: Any, receiver: Receiver) -> None:
    """pg_terminate_backend on every connection of the gateway (what a server restart or
    a failover does to it): the LISTEN loop reconnects and webhooks still go out."""
    async with await _start(settings, FAST) as running:
        auth = await _account(running)
        await _subscribe(running, auth, receiver.url, ["message.*"])
        loops = running.gateway.loops
        listener = loops.health(LISTENER)
        await until(lambda: listener.last_success is not None)
        dsn = running.gateway.db.url.replace("postgresql+asyncpg://", "postgresql://", 1)
        admin = await asyncpg.connect(dsn)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'"
            )
        finally:
            await admin.close()
        assert killed >= 1
        await until(lambda: listener.failures_total >= 1 and listener.failures == 0)

        async def submitted() -> bool:
            # The first request may meet a pooled connection that died with its backend:
            # the gateway answers 503 (retry), never a 500.
            r = await running.client.post(
                "/v1/messages", json={"to": "+33612345678", "text": "after"}, headers=auth
            )
            assert r.status_code in (202, 503), r.text
            return r.status_code == 202

        await until(submitted)
        await until(lambda: len(receiver.accepted()) >= 3)
        await until(lambda: _ready(running))
