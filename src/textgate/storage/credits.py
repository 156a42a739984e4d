"""Balances, the ledger, daily usage and opt-outs.

The steps below are pieces of ``storage.txn`` transactions: storing orders (with
``storage.admission``), recording outcomes, applying reports and cancelling compose them.
The repository at the end (reads, opt-out lists) uses SQLAlchemy Core, except crediting,
which composes the same ledger steps (see :meth:`CreditRepo.credit`).

Every balance change is a ledger row written in the same transaction as the running
balance. Balance rows are locked (``FOR UPDATE`` on PostgreSQL; SQLite has one writer) in
account order before they are read, so concurrent submits, refunds and credits of one
account serialise there and a limit or balance can never be overspent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from textgate.core.clock import Clock, system_clock
from textgate.storage.db import Database, conflicts
from textgate.storage.tables import account_balances, usage_daily
from textgate.storage.tables import ledger as ledger_table
from textgate.storage.tables import opt_outs as opt_out_table
from textgate.storage.txn import Many, Query, Txn, in_list

__all__ = [
    "CreditRepo",
    "Entry",
    "LedgerLine",
    "lock_balances",
    "lock_usage",
    "opted_out",
    "post_entries",
    "recent_sends",
    "refund_failed",
]

CHARGE, REFUND, CREDIT, TOPUP = "charge", "refund", "credit", "topup"


@dataclass(frozen=True, slots=True)
class Entry:
    account_id: str
    kind: str
    amount: int
    order_id: str | None = None
    message_id: str | None = None
    note: str | None = None


# One statement creates the row if needed, locks it (an upsert's update takes the row lock
# on PostgreSQL) and returns it; accounts are taken in id order so that two transactions
# locking several accounts cannot deadlock.
_LOCK_BALANCE = (
    "INSERT INTO account_balances (account_id, balance, updated_at) VALUES (?, 0, ?)"
    " ON CONFLICT (account_id) DO UPDATE SET balance = account_balances.balance"
    " RETURNING balance"
)
_LOCK_USAGE = (
    "INSERT INTO usage_daily (account_id, day, count) VALUES (?, ?, 0)"
    " ON CONFLICT (account_id, day) DO UPDATE SET count = usage_daily.count"
    " RETURNING count"
)


def lock_balances(account_ids: Iterable[str], now: int) -> Txn[dict[str, int]]:
    balances: dict[str, int] = {}
    for account_id in sorted(set(account_ids)):
        rows = yield Query(_LOCK_BALANCE, (account_id, now))
        balances[account_id] = int(rows[0]["balance"]) if rows else 0
    return balances


def post_entries(entries: Sequence[Entry], balances: dict[str, int], now: int) -> Txn[None]:
    """Write ledger rows and move the (already locked) balances; updates ``balances``."""
    if not entries:
        return
    rows = []
    for e in entries:
        balances[e.account_id] += e.amount
        rows.append(
            (
                e.account_id,
                e.kind,
                e.amount,
                balances[e.account_id],
                e.order_id,
                e.message_id,
                e.note,
                now,
            )
        )
    yield Many(
        "INSERT INTO ledger (account_id, kind, amount, balance_after, order_id, message_id,"
        " note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    touched = {e.account_id for e in entries}
    yield Many(
        "UPDATE account_balances SET balance = ?, updated_at = ? WHERE account_id = ?",
        [(balances[a], now, a) for a in sorted(touched)],
    )


def lock_usage(account_id: str, day: str) -> Txn[int]:
    rows = yield Query(_LOCK_USAGE, (account_id, day))
    return int(rows[0]["count"]) if rows else 0


def add_usage(counts: dict[tuple[str, str], int]) -> Txn[None]:
    yield Many(
        "UPDATE usage_daily SET count = count + ? WHERE account_id = ? AND day = ?",
        [(n, a, d) for (a, d), n in counts.items() if n],
    )


def opted_out(account_id: str, numbers: Sequence[str]) -> Txn[set[str]]:
    if not numbers:
        return set()
    rows = yield in_list(
        "SELECT number FROM opt_outs WHERE account_id = ? AND number IN {in}",
        list(numbers),
        before=(account_id,),
    )
    return {r["number"] for r in rows or ()}


def recent_sends(account_id: str, numbers: Sequence[str], since: int) -> Txn[set[tuple[str, str]]]:
    """(recipient, text) of the account's messages since ``since`` that were not refused."""
    if not numbers:
        return set()
    rows = yield in_list(
        "SELECT recipient, text FROM messages WHERE account_id = ? AND created_at >= ?"
        " AND status NOT IN ('rejected', 'cancelled', 'failed') AND recipient IN {in}",
        list(numbers),
        before=(account_id, since),
    )
    return {(r["recipient"], r["text"]) for r in rows or ()}


def refund_failed(
    message_ids: Sequence[str],
    now: int,
    note: str,
    *,
    statuses: Sequence[str] = ("failed", "cancelled"),
) -> Txn[int]:
    """Refund what these messages cost, if they are in ``statuses`` (failed or cancelled by
    default) and not refunded yet.

    Safe to call again for the same messages (a status reported twice): the balance lock
    is taken before looking for earlier refunds, and a unique index backs it up.
    """
    if not message_ids:
        return 0
    marks = ", ".join("?" * len(statuses))
    rows = yield in_list(
        f"SELECT id, account_id, cost FROM messages WHERE cost > 0"  # noqa: S608 - marks only
        f" AND status IN ({marks}) AND id IN {{in}}",
        list(message_ids),
        before=tuple(statuses),
    )
    if not rows:
        return 0
    balances = yield from lock_balances({r["account_id"] for r in rows}, now)
    done = yield in_list(
        "SELECT message_id FROM ledger WHERE kind = 'refund' AND message_id IN {in}",
        [r["id"] for r in rows],
    )
    already = {r["message_id"] for r in done or ()}
    entries = [
        Entry(r["account_id"], REFUND, int(r["cost"]), message_id=r["id"], note=note)
        for r in rows
        if r["id"] not in already
    ]
    yield from post_entries(entries, balances, now)
    return len(entries)


@dataclass(frozen=True, slots=True)
class LedgerLine:
    id: int
    kind: str
    amount: int
    balance_after: int
    order_id: str | None
    message_id: str | None
    note: str | None
    created_at: int


class CreditRepo:
    """Balances, ledger, usage and opt-outs for the account-facing services."""

    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    async def credit(
        self, account_id: str, amount: int, *, kind: str = CREDIT, note: str | None = None
    ) -> int:
        """Add (or, negative, remove) credit; returns the new balance.

        A ``storage.txn`` transaction: it composes the balance lock and ledger write of the
        order, outcome and report paths, so that the ledger's one rule (a ledger row and the
        running balance move together, balances locked in account order) is written once.
        """
        now = self._clock()

        def txn() -> Txn[int]:
            balances = yield from lock_balances([account_id], now)
            yield from post_entries([Entry(account_id, kind, amount, note=note)], balances, now)
            return balances[account_id]

        return await self._db.txn(txn, urgent=True)

    async def balance(self, account_id: str) -> int:
        query = select(account_balances.c.balance).where(
            account_balances.c.account_id == account_id
        )
        async with self._db.read() as conn:
            balance = (await conn.execute(query)).scalar_one_or_none()
        return 0 if balance is None else int(balance)

    async def usage(self, account_id: str, day: str) -> int:
        query = select(usage_daily.c.count).where(
            usage_daily.c.account_id == account_id, usage_daily.c.day == day
        )
        async with self._db.read() as conn:
            count = (await conn.execute(query)).scalar_one_or_none()
        return 0 if count is None else int(count)

    async def ledger(self, account_id: str, *, limit: int = 100) -> list[LedgerLine]:
        c = ledger_table.c
        query = (
            select(
                c.id,
                c.kind,
                c.amount,
                c.balance_after,
                c.order_id,
                c.message_id,
                c.note,
                c.created_at,
            )
            .where(c.account_id == account_id)
            .order_by(c.id.desc())
            .limit(limit)
        )
        async with self._db.read() as conn:
            return [LedgerLine(*r) for r in await conn.execute(query)]

    async def add_opt_outs(self, account_id: str, numbers: Sequence[str], source: str) -> None:
        if not numbers:
            return
        now = self._clock()
        insert = sqlite_insert if self._db.is_sqlite else pg_insert
        rows = [
            {"account_id": account_id, "number": n, "source": source, "created_at": now}
            for n in numbers
        ]
        with conflicts():
            async with self._db.write() as conn:
                await conn.execute(insert(opt_out_table).on_conflict_do_nothing(), rows)

    async def remove_opt_outs(self, account_id: str, numbers: Sequence[str]) -> None:
        if not numbers:
            return
        # One parameter set per number (an executemany), as many numbers as a list holds.
        statement = delete(opt_out_table).where(
            opt_out_table.c.account_id == account_id,
            opt_out_table.c.number == bindparam("each"),
        )
        async with self._db.write() as conn:
            await conn.execute(statement, [{"each": n} for n in numbers])

    async def opt_outs(self, account_id: str) -> list[tuple[str, str, int]]:
        """(number, source, created_at) of the account's opt-outs."""
        c = opt_out_table.c
        query = (
            select(c.number, c.source, c.created_at)
            .where(c.account_id == account_id)
            .order_by(c.number)
        )
        async with self._db.read() as conn:
            return [(r.number, r.source, r.created_at) for r in await conn.execute(query)]
