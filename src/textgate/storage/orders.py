"""Persisting orders with group commit.

Every submit, from every interface, ends here. Requests that arrive while a transaction is
being written wait for the next one, which then carries all of them: under load one fsync
covers hundreds of submits, and no submit is answered before its transaction committed.

Idempotency keys are resolved inside the same transaction that stores the order, so two
requests with one key can never both create an order, even from different processes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from textgate.core.clock import to_ms
from textgate.core.frozen import quick_init
from textgate.core.message import Message, Status
from textgate.core.policy import Reason
from textgate.errors import StorageUnavailable
from textgate.loops import LoopRegistry, stop_loop
from textgate.storage.admission import apply_rules, charge
from textgate.storage.db import Database
from textgate.storage.notify import CHANNEL
from textgate.storage.order_write import OrderWrite
from textgate.storage.queue import INSERT_EVENT
from textgate.storage.txn import Many, Query, Txn, in_list

__all__ = ["CommitResult", "OrderWrite", "OrderWriter"]

log = logging.getLogger(__name__)

IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000


@quick_init
@dataclass(frozen=True, slots=True)
class CommitResult:
    order_id: str
    replayed: bool
    """True when the idempotency key matched an earlier order: nothing new was stored."""
    messages: Sequence[Message] = ()
    """The messages as stored, after the account's stateful rules (empty when replayed)."""
    refused: Reason | None = None
    """Every recipient was refused, for this (first) reason: nothing was stored."""


@dataclass(slots=True)
class _Pending:
    write: OrderWrite
    future: asyncio.Future[CommitResult]


class OrderWriter:
    """Collects concurrent order writes and commits them together."""

    def __init__(
        self,
        db: Database,
        *,
        on_commit: Callable[[], None] | None = None,
        max_batch: int = 1000,
        loops: LoopRegistry | None = None,
    ) -> None:
        self._db = db
        self._loops = loops or LoopRegistry()
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        """Transactions written so far (observability; each carries many orders under load)."""

    async def start(self) -> None:
        if self._task is None:
            self._task = self._loops.spawn("order-writer", self._write_next)

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        await stop_loop(self._task)
        self._task = None

    async def commit(self, write: OrderWrite) -> CommitResult:
        if self._task is None:
            raise RuntimeError("OrderWriter is not started")
        future: asyncio.Future[CommitResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(write, future))
        return await future

    async def commit_many(self, writes: Sequence[OrderWrite]) -> list[CommitResult]:
        """Commit several orders, queued together so that they share transactions (one per
        ``max_batch`` orders when nothing else is queued): a bulk send costs a few commits
        rather than one per order. Each order is still admitted or refused on its own."""
        if self._task is None:
            raise RuntimeError("OrderWriter is not started")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[CommitResult]] = []
        for write in writes:
            future: asyncio.Future[CommitResult] = loop.create_future()
            self._queue.put_nowait(_Pending(write, future))
            futures.append(future)
        # Every future is awaited, so that none is left with an unretrieved exception.
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        results: list[CommitResult] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            results.append(outcome)
        return results

    async def _write_next(self) -> None:
        """One step of the writer's loop: wait for orders, write all that are queued."""
        batch = [await self._queue.get()]
        # One more turn of the loop before taking the batch: the requests whose bytes the
        # next read brings join this commit instead of paying for one of their own (a
        # commit costs about as much as its orders' rows: bench/RESULTS.md, "One more
        # turn before an order batch"; +6 % through SMPP).
        await asyncio.sleep(0)
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        try:
            await self._write_batch(batch)
        except Exception as exc:
            # Whatever went wrong (the loop goes on), no client may wait for ever.
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            raise
        finally:
            for _ in batch:
                self._queue.task_done()

    async def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            results = await self._write(batch)
        except StorageUnavailable as exc:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        except Exception as exc:
            if len(batch) > 1:
                # One bad order must not fail its neighbours: write them one by one.
                log.warning("order batch of %d failed (%s); retrying singly", len(batch), exc)
                for pending in batch:
                    await self._write_batch([pending])
                return
            log.exception("order write failed")
            if not batch[0].future.done():
                batch[0].future.set_exception(exc)
            return
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)
        if self._on_commit is not None:
            self._on_commit()

    async def _write(self, batch: list[_Pending]) -> list[CommitResult]:
        self.batches += 1
        return await self._db.txn(lambda: _store(batch), urgent=True)


def _store(batch: list[_Pending]) -> Txn[list[CommitResult]]:
    results: list[CommitResult | None] = [None] * len(batch)
    to_store: list[int] = []
    keyed: dict[tuple[str, str], int] = {}
    followers: list[tuple[int, tuple[str, str]]] = []
    now = to_ms(batch[0].write.order.created_at)
    for i, pending in enumerate(batch):
        key = pending.write.idempotency_key
        if key is None:
            to_store.append(i)
            continue
        ident = (pending.write.order.account_id, key)
        if ident in keyed:
            followers.append((i, ident))  # same key twice in one batch: the first wins
        else:
            keyed[ident] = i

    if keyed:
        held = yield from _claim_keys(batch, keyed, now)
        for ident, i in keyed.items():
            if ident in held:
                results[i] = CommitResult(held[ident], replayed=True)
            else:
                to_store.append(i)

    to_store.sort()
    writes = [batch[i].write for i in to_store]
    decided, balances = yield from apply_rules(writes, now)
    refused_keys = []
    stored: list[OrderWrite] = []
    for i, write, (msgs, refused) in zip(to_store, writes, decided, strict=True):
        results[i] = CommitResult(write.order.id, False, msgs, refused)
        if refused is None:
            stored.append(replace(write, messages=msgs))
        elif write.idempotency_key is not None:
            refused_keys.append((write.order.account_id, write.idempotency_key))
    # A refused order was never stored: its key must not replay it.
    yield Many("DELETE FROM idempotency_keys WHERE account_id = ? AND key = ?", refused_keys)
    yield from charge(stored, balances, now)
    yield from _insert(stored)
    for i, ident in followers:
        first = results[keyed[ident]]
        assert first is not None
        results[i] = first if first.refused else CommitResult(first.order_id, replayed=True)
    return [r for r in results if r is not None]


def _held_keys(idents: list[tuple[str, str]]) -> Txn[dict[tuple[str, str], tuple[str, int]]]:
    rows = yield in_list(
        "SELECT account_id, key, order_id, created_at FROM idempotency_keys WHERE key IN {in}",
        list({key for _, key in idents}),
    )
    wanted = set(idents)
    found: dict[tuple[str, str], tuple[str, int]] = {}
    for r in rows or ():
        ident = (r["account_id"], r["key"])
        if ident in wanted:
            found[ident] = (r["order_id"], r["created_at"])
    return found


def _claim_keys(
    batch: list[_Pending], keyed: dict[tuple[str, str], int], now: int
) -> Txn[dict[tuple[str, str], str]]:
    """Take the batch's keys; return the order id of each key another order already holds."""
    existing = yield from _held_keys(list(keyed))
    held: dict[tuple[str, str], str] = {}
    stale: list[tuple[str, str]] = []
    for ident, (order_id, created_at) in existing.items():
        if now - created_at < IDEMPOTENCY_WINDOW_MS:
            held[ident] = order_id
        else:
            stale.append(ident)
    yield Many("DELETE FROM idempotency_keys WHERE account_id = ? AND key = ?", stale)
    fresh = [ident for ident in keyed if ident not in held]
    if not fresh:
        return held
    # Another process may have taken a key since the SELECT (PostgreSQL only: SQLite
    # writers are serialised): ON CONFLICT DO NOTHING, then read back the winners.
    yield Many(
        "INSERT INTO idempotency_keys (account_id, key, order_id, created_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(a, k, batch[keyed[(a, k)]].write.order.id, now) for a, k in fresh],
    )
    winners = yield from _held_keys(fresh)
    for ident, (order_id, _) in winners.items():
        if order_id != batch[keyed[ident]].write.order.id:
            held[ident] = order_id
    return held


_INSERT_ORDER = (
    "INSERT INTO orders (id, account_id, created_at, interface, client_ref, recipients)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_MESSAGE = (
    "INSERT INTO messages (id, order_id, account_id, interface, recipient, sender, text,"
    " encoding, segments, cost, country, client_ref, status, reason, error_code, attempts,"
    " next_attempt_at, scheduled_at, created_at, updated_at, quality, receipt, valid_until)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)"
)


def _insert(writes: list[OrderWrite]) -> Txn[None]:
    if not writes:
        return
    order_rows = []
    message_rows = []
    event_rows = []
    target_rows: list[tuple[str, str]] = []
    device_rows: list[tuple[str, str | None, int | None]] = []
    dispatchable = False
    for w in writes:
        o = w.order
        created = to_ms(o.created_at)
        order_rows.append((o.id, o.account_id, created, o.interface, o.client_ref, o.recipients))
        for m in w.messages:
            due: int | None = None
            scheduled = None if m.scheduled_at is None else to_ms(m.scheduled_at)
            if m.status == Status.QUEUED:
                due = created
            elif m.status == Status.SCHEDULED:
                due = scheduled
            dispatchable = dispatchable or due is not None
            message_rows.append(
                (
                    m.id,
                    m.order_id,
                    m.account_id,
                    m.interface,
                    m.recipient,
                    m.sender,
                    m.text,
                    m.encoding,
                    m.segments,
                    m.cost,
                    m.country,
                    m.client_ref,
                    m.status.value,
                    m.reason,
                    m.error_code,
                    due,
                    scheduled,
                    created,
                    created,
                    m.quality,
                    m.receipt,
                    None if m.valid_until is None else to_ms(m.valid_until),
                )
            )
            event_rows.append((m.id, m.status.value, created, m.reason))
            target_rows.extend((m.id, t) for t in w.targets)
            if w.device is not None and m.status != Status.REJECTED:
                device_rows.append((m.id, *w.device))
    yield Many(_INSERT_ORDER, order_rows)
    yield Many(_INSERT_MESSAGE, message_rows)
    yield Many(INSERT_EVENT, event_rows)
    yield Many("INSERT INTO message_targets (message_id, target_id) VALUES (?, ?)", target_rows)
    yield Many(
        "INSERT INTO message_devices (message_id, device_id, sim_number) VALUES (?, ?, ?)",
        device_rows,
    )
    if dispatchable:
        # Wakes workers in other processes once this transaction commits (PostgreSQL only).
        yield Query("", pg_sql=f"SELECT pg_notify('{CHANNEL}', '')")
