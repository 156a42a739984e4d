"""The outbound queues' storage (``storage.outbox`` under the webhook and mail repositories):
leases, fenced outcomes, replay, retention, deduplication, and senders in other processes
skipping what one holds (PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import insert, select, text

from tests.support import WAIT, postgres_url
from textgate.core.ids import new_id
from textgate.core.mail import OutgoingMail
from textgate.errors import Conflict, NotFound
from textgate.storage.accounts import AccountRepo
from textgate.storage.db import Database
from textgate.storage.mail import MailRepo
from textgate.storage.oauth import OAuthRepo
from textgate.storage.outbox import QueueOutcome
from textgate.storage.secrets import SecretBox
from textgate.storage.tables import mail_outbox, message_targets, webhook_deliveries
from textgate.storage.webhooks import MESSAGE_SCOPE, WebhookRepo

T0 = 1_800_000_000_000
LEASE = 30_000


def _mail(subject: str = "hello") -> OutgoingMail:
    return OutgoingMail("gw@textgate.test", ("a@example.test", "b@example.test"), subject, "raw")


async def _statuses(db: Database) -> dict[str, tuple[str, int, int | None]]:
    c = mail_outbox.c
    async with db.read() as conn:
        rows = await conn.execute(select(c.id, c.status, c.attempts, c.next_attempt_at))
        return {r.id: (r.status, r.attempts, r.next_attempt_at) for r in rows}


async def test_a_lease_fences_the_attempt_it_was_claimed_for(db: Database) -> None:
    repo = MailRepo(db, clock=lambda: T0)
    mail_id = await repo.enqueue(None, "test", _mail())

    [first] = await repo.claim(now=T0, lease_ms=LEASE, limit=10)
    assert (first.id, first.attempts, first.rcpt_to) == (
        mail_id,
        1,
        ("a@example.test", "b@example.test"),
    )
    # Held until the lease ends, then due again for another sender.
    assert await repo.claim(now=T0 + LEASE - 1, lease_ms=LEASE, limit=10) == []
    [second] = await repo.claim(now=T0 + LEASE, lease_ms=LEASE, limit=10)
    assert second.attempts == 2

    # The first sender's outcome comes late: it no longer counts.
    await repo.record([QueueOutcome(mail_id, 1, None)], now=T0 + LEASE + 1)
    assert await _statuses(db) == {mail_id: ("pending", 2, T0 + 2 * LEASE)}
    await repo.record([QueueOutcome(mail_id, 2, "451 try later", T0 + 99)], now=T0 + LEASE + 2)
    found = await repo.get(None, mail_id)
    assert (found.status, found.last_error) == ("pending", "451 try later")
    assert await _statuses(db) == {mail_id: ("pending", 2, T0 + 99)}

    [third] = await repo.claim(now=T0 + 99, lease_ms=LEASE, limit=10)
    await repo.record([QueueOutcome(mail_id, third.attempts, None)], now=T0 + 100)
    sent = await repo.get(None, mail_id)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 3, None)
    assert sent.sent_at is not None and sent.next_attempt_at is None


async def test_dead_mail_is_replayed_with_fresh_attempts_and_finished_mail_purged(
    db: Database,
) -> None:
    account = await AccountRepo(db).create("acme")
    repo = MailRepo(db, clock=lambda: T0)
    dead_id = await repo.enqueue(account.id, "test", _mail("dead"))
    pending_id = await repo.enqueue(account.id, "test", _mail("later"), due_at=T0 + 10**9)
    [claim] = await repo.claim(now=T0, lease_ms=LEASE, limit=10)
    await repo.record([QueueOutcome(dead_id, claim.attempts, "550 no such user")], now=T0)
    assert (await repo.get(account.id, dead_id)).status == "dead"
    with pytest.raises(NotFound):
        await repo.get("someone-else", dead_id)

    again = await repo.retry(account.id, dead_id)
    assert (again.status, again.attempts, again.next_attempt_at) == (
        "pending",
        0,
        again.created_at,
    )
    [claim] = await repo.claim(now=T0, lease_ms=LEASE, limit=10)
    await repo.record([QueueOutcome(dead_id, claim.attempts, None)], now=T0)

    listed = await repo.of_account(account.id, status=None, before_id=None, limit=10)
    assert [m.id for m in listed] == [pending_id, dead_id]
    assert [
        m.id for m in await repo.of_account(account.id, status="sent", before_id=None, limit=10)
    ] == [dead_id]
    # Retention removes finished rows made before the cutoff, never pending ones.
    await repo.purge(T0 + 1)
    assert set(await _statuses(db)) == {pending_id}


async def test_a_replayed_dedup_key_queues_nothing_more(db: Database) -> None:
    repo = MailRepo(db, clock=lambda: T0)
    await repo.enqueue(None, "notification", _mail(), dedup_key="target:evt_msg_1")
    await repo.enqueue(None, "notification", _mail(), dedup_key="target:evt_msg_1")
    assert len(await _statuses(db)) == 1


async def _delivery(db: Database, repo: WebhookRepo, account_id: str, n: int) -> list[str]:
    hook = await repo.create(account_id, "http://127.0.0.1:9/", ["message.*"], "s" * 20)
    ids = [new_id(T0 + i, bytes(10)) for i in range(n)]
    async with db.write() as conn:
        await conn.execute(
            insert(webhook_deliveries),
            [
                {
                    "id": d,
                    "webhook_id": hook.id,
                    "event_id": f"evt_msg_{i}",
                    "event_type": "message.sent",
                    "payload": "{}",
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": T0 + i,
                    "created_at": T0,
                }
                for i, d in enumerate(ids)
            ],
        )
    return ids


async def test_webhook_deliveries_are_claimed_with_their_subscription_and_replayed(
    db: Database,
) -> None:
    account = await AccountRepo(db).create("acme")
    repo = WebhookRepo(db, SecretBox("test key"), clock=lambda: T0)
    first, second = await _delivery(db, repo, account.id, 2)

    claims = await repo.claim(now=T0 + 5, lease_ms=LEASE, limit=10)
    assert [(c.id, c.url, c.secret, c.attempts) for c in claims] == [
        (first, "http://127.0.0.1:9/", "s" * 20, 1),
        (second, "http://127.0.0.1:9/", "s" * 20, 1),
    ]
    await repo.record(
        [QueueOutcome(first, 1, None), QueueOutcome(second, 1, "HTTP 500")], now=T0 + 6
    )
    [hook] = await repo.of_account(account.id)
    shown = await repo.deliveries(account.id, hook.id, status=None, before_id=None, limit=10)
    assert [(d.id, d.status, d.last_error) for d in shown] == [
        (second, "dead", "HTTP 500"),
        (first, "delivered", None),
    ]
    assert [
        d.id
        for d in await repo.deliveries(account.id, hook.id, status="dead", before_id=None, limit=10)
    ] == [second]
    assert [
        d.id
        for d in await repo.deliveries(account.id, hook.id, status=None, before_id=second, limit=10)
    ] == [first]

    replayed = await repo.retry(account.id, first)
    assert (replayed.status, replayed.attempts, replayed.delivered_at) == ("pending", 0, None)
    with pytest.raises(NotFound):
        await repo.retry("someone-else", first)

    # Retention: finished deliveries and old message links go; pending ones stay.
    async with db.write() as conn:
        await conn.execute(
            insert(message_targets), [{"message_id": new_id(T0, bytes(10)), "target_id": hook.id}]
        )
    await repo.purge(T0 + 10)
    left = await repo.deliveries(account.id, hook.id, status=None, before_id=None, limit=10)
    assert [d.id for d in left] == [first]
    async with db.read() as conn:
        assert (await conn.execute(select(message_targets))).all() == []

    await repo.delete(account.id, hook.id)
    with pytest.raises(NotFound):
        await repo.delete(account.id, hook.id)


async def test_a_message_target_is_found_by_its_url_and_events(db: Database) -> None:
    account = await AccountRepo(db).create("acme")
    repo = WebhookRepo(db, SecretBox("test key"))
    made = await repo.create(
        account.id, "https://cb.example/", ["message.delivered"], "s" * 20, scope=MESSAGE_SCOPE
    )
    assert await repo.find_target(account.id, "https://cb.example/", ["message.delivered"]) == (
        made.id
    )
    assert await repo.find_target(account.id, "https://cb.example/", ["message.*"]) is None
    assert [h.id for h in await repo.of_account(account.id, scope="account")] == []


async def test_writes_that_break_a_constraint_are_conflicts(db: Database) -> None:
    """As for the hot-path transactions: the driver's integrity error is a Conflict."""
    with pytest.raises(Conflict):
        await WebhookRepo(db, SecretBox("test key")).create(
            "no-such-account", "http://127.0.0.1:9/", ["message.*"], "s" * 20
        )
    account = await AccountRepo(db).create("acme")
    oauth = OAuthRepo(db, clock=lambda: T0)
    await oauth.add_client("client-1", account.id, "h" * 64)
    with pytest.raises(Conflict):
        await oauth.add_client("client-1", account.id, "h" * 64)
    await oauth.add_token("t" * 64, "client-1", account.id, T0 + 1000)
    with pytest.raises(Conflict):
        await oauth.add_token("t" * 64, "client-1", account.id, T0 + 1000)
    assert await oauth.token_account("t" * 64) == account.id
    assert await oauth.delete_client(account.id, "client-1")
    assert not await oauth.delete_client(account.id, "client-1")
    assert await oauth.token_account("t" * 64) is None


@pytest.mark.skipif(not postgres_url(), reason="row locks are PostgreSQL's")
async def test_a_claim_skips_what_another_sender_holds(db: Database) -> None:
    account = await AccountRepo(db).create("acme")
    repo = WebhookRepo(db, SecretBox("test key"))
    held, free = await _delivery(db, repo, account.id, 2)
    # Another process's claim, still open: its row is locked until it commits.
    async with db.engine.connect() as other, other.begin():
        await other.execute(
            text("SELECT id FROM webhook_deliveries WHERE id = :id FOR UPDATE"), {"id": held}
        )
        claims = await asyncio.wait_for(repo.claim(now=T0 + 5, lease_ms=LEASE, limit=10), WAIT)
        assert [c.id for c in claims] == [free]
    [late] = await repo.claim(now=T0 + 5, lease_ms=LEASE, limit=10)
    assert late.id == held
