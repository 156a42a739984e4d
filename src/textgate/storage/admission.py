"""The account's stateful rules, applied to orders inside the transaction that stores them.

Opt-outs, duplicates, the daily limit and the balance depend on counters that concurrent
submits change; they are decided here (with the pure ``core.policy.admit``) on counters
read under lock, so no interleaving of requests, processes or workers can overspend them.
"""

from __future__ import annotations

from dataclasses import replace

from textgate.core.message import Message, Status
from textgate.core.policy import (
    REASON_TEXT,
    AccountRules,
    AccountState,
    Reason,
    admit,
    needs_topup,
)
from textgate.storage.credits import (
    CHARGE,
    TOPUP,
    Entry,
    add_usage,
    lock_balances,
    lock_usage,
    opted_out,
    post_entries,
    recent_sends,
)
from textgate.storage.order_write import OrderWrite
from textgate.storage.txn import Many, Txn

__all__ = ["apply_rules", "charge"]

_DISPATCHABLE = (Status.QUEUED, Status.SCHEDULED)
_REASONS = frozenset(r.value for r in Reason)


def apply_rules(
    writes: list[OrderWrite], now: int
) -> Txn[tuple[list[tuple[list[Message], Reason | None]], dict[str, int]]]:
    """Decide each recipient against the account's counters, read under lock.

    Returns the decisions and the balances as locked (for the charge that follows).
    """
    if not writes:
        return [], {}
    accounts = {w.order.account_id: w for w in writes}
    balances = yield from lock_balances(accounts, now)
    states: dict[str, AccountState] = {}
    for account_id, first in sorted(accounts.items()):
        numbers = sorted(
            {
                m.recipient
                for w in writes
                if w.order.account_id == account_id
                for m in w.messages
                if m.status in _DISPATCHABLE
            }
        )
        used = yield from lock_usage(account_id, first.day)
        opted = yield from opted_out(account_id, numbers)
        recent: set[tuple[str, str]] = set()
        if first.rules.dedupe:
            since = now - first.rules.dedupe_window_seconds * 1000
            recent = yield from recent_sends(account_id, numbers, since)
        states[account_id] = AccountState(balances[account_id], used, opted, recent)
    decided: list[tuple[list[Message], Reason | None]] = []
    for w in writes:
        state = states[w.order.account_id]
        msgs: list[Message] = []
        first_reason: Reason | None = None
        accepted = 0
        for m in w.messages:
            if m.status in _DISPATCHABLE:
                reason = admit(w.rules, state, m.recipient, m.text, m.cost)
                if reason is None:
                    accepted += 1
                else:
                    m = replace(
                        m,
                        status=Status.REJECTED,
                        reason=REASON_TEXT[reason],
                        error_code=reason.value,
                        cost=0,
                        scheduled_at=None,
                    )
            if m.status == Status.REJECTED and first_reason is None:
                first_reason = Reason(m.error_code) if m.error_code in _REASONS else None
            msgs.append(m)
        decided.append((msgs, None if accepted else (first_reason or Reason.INVALID_NUMBER)))
    return decided, dict(balances)


def charge(writes: list[OrderWrite], balances: dict[str, int], now: int) -> Txn[None]:
    """Charge accepted messages (one ledger row per order), count usage, top up if due.

    ``balances`` are the rows ``apply_rules`` locked, as they were read.
    """
    if not writes:
        return
    entries: list[Entry] = []
    usage: dict[tuple[str, str], int] = {}
    rules: dict[str, AccountRules] = {}
    for w in writes:
        accepted = [m for m in w.messages if m.status in _DISPATCHABLE]
        key = (w.order.account_id, w.day)
        usage[key] = usage.get(key, 0) + len(accepted)
        rules[w.order.account_id] = w.rules
        total = sum(m.cost for m in accepted)
        if total:
            entries.append(Entry(w.order.account_id, CHARGE, -total, order_id=w.order.id))
    yield from post_entries(entries, balances, now)
    yield from add_usage(usage)
    topups = [
        Entry(account_id, TOPUP, r.topup_amount or 0, note="automatic top-up")
        for account_id, r in sorted(rules.items())
        if needs_topup(r, balances[account_id])
    ]
    yield from post_entries(topups, balances, now)
    yield Many(
        "INSERT INTO account_events (account_id, kind, detail, created_at) VALUES (?, ?, ?, ?)",
        [
            (t.account_id, "topup", f"credited {t.amount} micro-credits below threshold", now)
            for t in topups
        ],
    )
