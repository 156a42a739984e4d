"""What the two outbound queues (webhook deliveries, mail) share: leases, fenced outcomes,
replay and retention.

A queue row is pending while ``next_attempt_at`` is set: the due time, the retry time, or
the lease expiry while a sender holds it, so a sender that dies leaves rows that simply
fall due again. Claiming adds one to ``attempts``, and every outcome is written only if
``attempts`` still has the claimed value: a sender whose lease was taken over cannot
overwrite the newer attempt's result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textgate.core.ids import new_id
from textgate.storage.txn import Many, Query, Txn, in_list

__all__ = ["PENDING", "Outbox", "QueueOutcome"]

PENDING = "pending"
DEAD = "dead"


@dataclass(frozen=True, slots=True)
class QueueOutcome:
    id: str
    attempts: int
    """The claimed attempt (the fencing token)."""
    error: str | None
    """None: done."""
    retry_at: int | None = None
    """When to try again after an error; None with an error: dead-lettered."""


class Outbox:
    """Statements for one queue table; table and column names are constants of this
    module's callers, never input (S608 noqa); every value is a bound parameter."""

    def __init__(self, table: str, *, done_status: str, done_column: str) -> None:
        self.table = table
        self._done_status = done_status
        fence = f"WHERE id = ? AND attempts = ? AND status = '{PENDING}'"
        self._set_done = (
            f"UPDATE {table} SET status = ?, next_attempt_at = NULL, {done_column} = ?,"  # noqa: S608
            f" last_error = NULL {fence}"
        )
        self._set_retry = f"UPDATE {table} SET next_attempt_at = ?, last_error = ? {fence}"  # noqa: S608
        self._set_dead = (
            f"UPDATE {table} SET status = ?, next_attempt_at = NULL, last_error = ? {fence}"  # noqa: S608
        )
        self._lease = (
            f"UPDATE {table} SET attempts = attempts + 1, next_attempt_at = ?"  # noqa: S608
            " WHERE id IN {in}"
        )
        self._requeue = (
            f"UPDATE {table} SET status = ?, attempts = 0, next_attempt_at = ?,"  # noqa: S608
            f" {done_column} = NULL WHERE id = ?"
        )
        self._purge = f"DELETE FROM {table} WHERE id < ? AND status <> '{PENDING}'"  # noqa: S608

    def lease(self, ids: Sequence[str], until: int) -> Query:
        return in_list(self._lease, list(ids), before=(until,))

    def claim(
        self, select: str, *, pg_lock: str, now: int, lease_ms: int, limit: int
    ) -> Txn[list[Any]]:
        """Rows of ``select`` (due first, taking ``now`` and ``limit``), leased until
        ``now + lease_ms``; on PostgreSQL locked with ``pg_lock`` so that senders in other
        processes skip them."""
        rows = list((yield Query(select, (now, limit), pg_sql=select + pg_lock)) or ())
        if rows:
            yield self.lease([r["id"] for r in rows], now + lease_ms)
        return rows

    def record(self, outcomes: Sequence[QueueOutcome], now: int) -> Txn[None]:
        yield Many(
            self._set_done,
            [(self._done_status, now, o.id, o.attempts) for o in outcomes if o.error is None],
        )
        yield Many(
            self._set_retry,
            [
                (o.retry_at, o.error[:500], o.id, o.attempts)
                for o in outcomes
                if o.error is not None and o.retry_at is not None
            ],
        )
        yield Many(
            self._set_dead,
            [
                (DEAD, o.error[:500], o.id, o.attempts)
                for o in outcomes
                if o.error is not None and o.retry_at is None
            ],
        )

    def requeue(self, row_id: str, now: int) -> Many:
        """Queue a row again whatever its state, with a fresh set of attempts."""
        return Many(self._requeue, [(PENDING, now, row_id)])

    def purge(self, older_than_ms: int) -> Many:
        """Delete finished rows (done or dead) made before the given time. Ids are ULIDs,
        so "made before" is a range of the primary key and needs no index of its own."""
        return Many(self._purge, [(new_id(older_than_ms, bytes(10)),)])
