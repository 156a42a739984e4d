"""Crash test for notifications: SIGKILL the gateway while it is sending webhooks and mail,
restart it, and check that every committed event still reaches its receiver.

Issue: "the gateway killed with SIGKILL in the middle loses no event". Deliveries and mails
are fed from committed event rows (storage.webhook_feed), so whatever was committed before
the kill is either already queued or still ahead of the feed's cursor. A delivery whose
answer was lost in the kill is sent again with the same event id and the same body.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import HTTP_TIMEOUT, free_port, until
from tests.system.procs import (
    Processes,
    create_account,
    gateway_env,
    mobile_numbers,
    simulator_connectors,
    wait_healthy,
    wait_until_final,
)
from tests.webhooks.receiver import running_receiver
from textgate.core.webhooks import verify

pytestmark = pytest.mark.slow

MESSAGES = 600
KILL_AFTER_HITS = 400
"""Webhook requests received before the kill (of about 4 x MESSAGES in all)."""


async def _events(db_url: str) -> dict[str, tuple[str, str]]:
    """Event id -> (message id, status) for every committed message event."""
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT id, message_id, status FROM message_events"))
            return {f"evt_msg_{r[0]}": (r[1], r[2]) for r in rows}
    finally:
        await engine.dispose()


async def _settled(db_url: str) -> bool:
    """Whether the feed has read every event and no webhook or mail waits to be sent."""
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT (SELECT COALESCE(MAX(id), 0) FROM message_events) AS last,"
                        " (SELECT position FROM webhook_cursors"
                        "  WHERE source = 'message_events') AS fed,"
                        " (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending')"
                        "  AS hooks,"
                        " (SELECT COUNT(*) FROM mail_outbox WHERE status = 'pending') AS mails"
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    fed = row.fed is not None and int(row.fed) >= int(row.last)
    return fed and row.hooks == 0 and row.mails == 0


async def test_sigkill_while_notifying_loses_no_event(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    mail_dir = tmp_path / "mail"
    env = gateway_env(
        db_url,
        tmp_path,
        {
            "TEXTGATE_HTTP__PORT": str(port),
            "TEXTGATE_CONNECTORS": simulator_connectors(None, report_delay_ms=50),
            "TEXTGATE_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
            "TEXTGATE_WEBHOOKS__POLL_SECONDS": "0.05",
            "TEXTGATE_WEBHOOKS__SETTLE_SECONDS": "0.05",
            "TEXTGATE_WEBHOOKS__RETRY_BASE_SECONDS": "0.1",
            "TEXTGATE_WEBHOOKS__RETRY_MAX_SECONDS": "0.5",
            # Small batches, so that the kill lands between a send and its record.
            "TEXTGATE_WEBHOOKS__BATCH_SIZE": "20",
            "TEXTGATE_WEBHOOKS__CONCURRENCY": "8",
            "TEXTGATE_WEBHOOKS__LEASE_SECONDS": "1",
            "TEXTGATE_MAIL__DIRECTORY": str(mail_dir),
            "TEXTGATE_MAIL__POLL_SECONDS": "0.05",
            "TEXTGATE_MAIL__LEASE_SECONDS": "1",
        },
    )
    async with running_receiver() as receiver, Processes(tmp_path / "logs") as procs:
        account = await create_account(env, "crash")
        auth = {"Authorization": f"Bearer {account['api_key']}"}
        server = await procs.start("serve-run1", ["serve"], env)
        await wait_healthy(server, base_url)
        async with httpx.AsyncClient(
            base_url=base_url, headers=auth, timeout=HTTP_TIMEOUT
        ) as client:
            hook = await client.post(
                "/v1/webhooks", json={"url": receiver.url, "events": ["message.*"]}
            )
            assert hook.status_code == 201, hook.text
            secret = hook.json()["secret"]
            mail = await client.post(
                "/v1/webhooks",
                json={"url": "mailto:ops@example.com", "events": ["message.delivered"]},
            )
            assert mail.status_code == 201, mail.text
            numbers = mobile_numbers(MESSAGES)
            for start in range(0, MESSAGES, 100):
                r = await client.post(
                    "/v1/messages", json={"to": numbers[start : start + 100], "text": "crash"}
                )
                assert r.status_code == 202, r.text

        await until(lambda: len(receiver.hits) >= KILL_AFTER_HITS, timeout=120)
        assert await server.kill() == -9
        hits_at_kill = len(receiver.hits)

        server = await procs.start("serve-run2", ["serve"], env)
        await wait_healthy(server, base_url)
        final = await wait_until_final(db_url, timeout=120)
        assert len(final) == MESSAGES
        expected = await _events(db_url)
        await until(lambda: set(receiver.accepted()) >= set(expected), timeout=180)
        delivered = {mid for mid, status in final.items() if status == "delivered"}

        def mails() -> list[Any]:
            return sorted(mail_dir.glob("*.eml")) if mail_dir.exists() else []

        await until(lambda: len(mails()) >= len(delivered), timeout=120)
        # Nothing left that could still be sent: any duplicate has arrived by now.
        await until(lambda: _settled(db_url), "the outboxes to settle", interval=0.2)
        assert await server.stop() in (0, -15), server.log_tail()

    accepted = receiver.accepted()
    assert set(accepted) == set(expected), "an event was delivered that was never committed"
    # At least once, never different: a repeat carries the same event id and the same body.
    for hit in receiver.hits:
        assert hit.body == accepted[hit.event_id].body
    for hit in receiver.hits:
        ts = int(hit.headers["textgate-timestamp"])
        assert verify(secret, ts, hit.body, hit.headers["textgate-signature"])
    # One mail per delivered message (mails are files named by their queue id; a resent
    # mail overwrites its own file, and the feed's dedup key stops a second one being made).
    told = []
    for path in mails():
        parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
        body = parsed.get_body(("plain",))
        assert body is not None
        content = body.get_content()
        told.extend(mid for mid in delivered if mid in content)
    assert sorted(told) == sorted(delivered)
    print(
        f"\nwebhook crash test: {len(expected)} events, {hits_at_kill} requests before the kill,"
        f" {len(receiver.hits)} in all, {len(receiver.hits) - len(accepted)} repeats"
    )
