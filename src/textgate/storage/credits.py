"""Balances, the ledger, daily usage and opt-outs, as pieces of ``storage.txn`` transactions.

Every balance change is a ledger row written in the same transaction as the running
balance. Balance rows are locked (``FOR UPDATE`` on PostgreSQL; SQLite has one writer) in
account order before they are read, so concurrent submits, refunds and credits of one
account serialise there and a limit or balance can never be overspent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from textgate.core.clock import Clock, system_clock
from textgate.storage.db import Database
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
        """Add (or, negative, remove) credit; returns the new balance."""
        now = self._clock()

        def txn() -> Txn[int]:
            balances = yield from lock_balances([account_id], now)
            yield from post_entries([Entry(account_id, kind, amount, note=note)], balances, now)
            return balances[account_id]

        return await self._db.txn(txn, urgent=True)

    async def balance(self, account_id: str) -> int:
        def txn() -> Txn[int]:
            rows = yield Query(
                "SELECT balance FROM account_balances WHERE account_id = ?", (account_id,)
            )
            return int(rows[0]["balance"]) if rows else 0

        return await self._db.txn(txn, urgent=True)

    async def usage(self, account_id: str, day: str) -> int:
        def txn() -> Txn[int]:
            rows = yield Query(
                "SELECT count FROM usage_daily WHERE account_id = ? AND day = ?", (account_id, day)
            )
            return int(rows[0]["count"]) if rows else 0

        return await self._db.txn(txn, urgent=True)

    async def ledger(self, account_id: str, *, limit: int = 100) -> list[LedgerLine]:
        def txn() -> Txn[list[LedgerLine]]:
            rows = yield Query(
                "SELECT id, kind, amount, balance_after, order_id, message_id, note, created_at"
                " FROM ledger WHERE account_id = ? ORDER BY id DESC LIMIT ?",
                (account_id, limit),
            )
            return [
                LedgerLine(
                    r["id"],
                    r["kind"],
                    r["amount"],
                    r["balance_after"],
                    r["order_id"],
                    r["message_id"],
                    r["note"],
                    r["created_at"],
                )
                for r in rows or ()
            ]

        return await self._db.txn(txn, urgent=True)

    async def add_opt_outs(self, account_id: str, numbers: Sequence[str], source: str) -> None:
        now = self._clock()

        def txn() -> Txn[None]:
            yield Many(
                "INSERT INTO opt_outs (account_id, number, source, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(account_id, n, source, now) for n in numbers],
            )

        await self._db.txn(txn, urgent=True)

    async def remove_opt_outs(self, account_id: str, numbers: Sequence[str]) -> None:
        def txn() -> Txn[None]:
            yield Many(
                "DELETE FROM opt_outs WHERE account_id = ? AND number = ?",
                [(account_id, n) for n in numbers],
            )

        await self._db.txn(txn, urgent=True)

    async def opt_outs(self, account_id: str) -> list[tuple[str, str, int]]:
        """(number, source, created_at) of the account's opt-outs."""

        def txn() -> Txn[list[tuple[str, str, int]]]:
            rows = yield Query(
                "SELECT number, source, created_at FROM opt_outs WHERE account_id = ?"
                " ORDER BY number",
                (account_id,),
            )
            return [(r["number"], r["source"], r["created_at"]) for r in rows or ()]

        return await self._db.txn(txn, urgent=True)
