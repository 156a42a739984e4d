"""The credits repository outside the order path: balances, usage, the ledger and opt-out
lists, read and edited on both databases."""

from __future__ import annotations

from textgate.storage.accounts import AccountRepo
from textgate.storage.credits import CreditRepo
from textgate.storage.db import Database


async def test_an_account_never_credited_has_nothing(db: Database) -> None:
    acme = await AccountRepo(db).create("acme")
    credits = CreditRepo(db)
    assert await credits.balance(acme.id) == 0
    assert await credits.usage(acme.id, "2026-12-06") == 0
    assert await credits.ledger(acme.id) == []


async def test_the_ledger_reads_newest_first_with_running_balances(db: Database) -> None:
    acme = await AccountRepo(db).create("acme")
    credits = CreditRepo(db, clock=lambda: 1_000)
    assert await credits.credit(acme.id, 500, note="welcome") == 500
    assert await credits.credit(acme.id, -120) == 380
    assert await credits.balance(acme.id) == 380
    lines = await credits.ledger(acme.id)
    assert [(x.amount, x.balance_after, x.note) for x in lines] == [
        (-120, 380, None),
        (500, 500, "welcome"),
    ]
    assert [x.kind for x in lines] == ["credit", "credit"] and lines[0].created_at == 1_000
    assert [x.amount for x in await credits.ledger(acme.id, limit=1)] == [-120]


async def test_opt_outs_are_added_once_and_removed_together(db: Database) -> None:
    acme = await AccountRepo(db).create("acme")
    other = await AccountRepo(db).create("other")
    credits = CreditRepo(db, clock=lambda: 7)
    numbers = ["+33600000003", "+33600000001", "+33600000002"]
    await credits.add_opt_outs(acme.id, numbers, "api")
    # Added again from elsewhere: already there, the first source stays.
    await credits.add_opt_outs(acme.id, ["+33600000001"], "keyword")
    await credits.add_opt_outs(other.id, ["+33600000001"], "api")
    await credits.add_opt_outs(acme.id, [], "api")
    assert await credits.opt_outs(acme.id) == [(n, "api", 7) for n in sorted(numbers)]
    await credits.remove_opt_outs(acme.id, ["+33600000001", "+33600000003", "+33699999999"])
    await credits.remove_opt_outs(acme.id, [])
    assert await credits.opt_outs(acme.id) == [("+33600000002", "api", 7)]
    assert await credits.opt_outs(other.id) == [("+33600000001", "api", 7)], "per account"
