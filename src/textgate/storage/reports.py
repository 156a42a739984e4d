"""Delivery reports against stored state: matching, parking early ones, overdue follow-ups.

A report names a message by the operator's id. It is matched through the stored key of
that id (``messages.external_key``, :mod:`textgate.core.external_ids`), so it finds its
message whichever process sent it and after any restart, in whichever base the operator
spelt the id. A report that arrives before its message's id is recorded (the receipt beat
the submit_sm_resp's commit, or came to another process) is *parked* in
``pending_reports`` under every key it may match, and applied when the id is recorded.

These are hot statements, written as plain SQL for ``storage.txn`` like the queue's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from textgate.core.clock import from_ms, to_ms
from textgate.core.external_ids import id_key, match_keys
from textgate.core.message import FINAL, DeliveryReport, Status, may_follow
from textgate.storage.txn import Many, Query, Txn, in_list

__all__ = [
    "INSERT_EVENT",
    "NO_REPORT",
    "RECHECK_MS",
    "ReportCheck",
    "apply_parked",
    "apply_reports",
    "due_report_checks",
    "lock_report_ids",
]

INSERT_EVENT = "INSERT INTO message_events (message_id, status, at, detail) VALUES (?, ?, ?, ?)"
# How long to wait before asking again about a message still without a final report.
RECHECK_MS = 3_600_000
NO_REPORT = "no_report"
"""error_code of a sent message whose receipt window ended without a final report."""


@dataclass(frozen=True, slots=True)
class ReportCheck:
    """A sent message whose report is overdue: ask its connector (query_sm or the like)."""

    message_id: str
    connector: str
    external_id: str
    sender: str | None


def lock_report_ids(keys: Sequence[tuple[str, str]]) -> Query:
    """PostgreSQL: transaction-scoped advisory locks on (connector, id key) pairs.

    Recording a message's id and parking a report that names an id not recorded yet must
    not interleave: under READ COMMITTED each would miss the other's uncommitted row and
    the report would stay parked for good. Both take these locks first (sorted, so two
    transactions never wait on each other in a cycle). Keys, not spellings, are locked, so
    a report in another base serialises with the record it may match. SQLite has one
    writer, so transactions never interleave there and the statement is a no-op.
    """
    ids = sorted(
        {
            int.from_bytes(
                hashlib.blake2b(f"{c}\x00{x}".encode(), digest_size=8).digest(),
                "big",
                signed=True,
            )
            for c, x in keys
        }
    )
    return Query(
        "",
        pg_sql="SELECT pg_advisory_xact_lock(k) FROM unnest(?::bigint[]) AS k",
        pg_params=(ids,),
    )


def _report_keys(reports: Sequence[DeliveryReport]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((r.connector, k) for r in reports for k in match_keys(r.external_id)))


def _current(
    keys: Sequence[tuple[str, str]],
) -> Txn[dict[tuple[str, str], tuple[str, Status, str | None]]]:
    """(connector, id key) -> (message id, status, error_code) of the messages stored
    under these keys."""
    by_connector: dict[str, list[str]] = {}
    for connector, key in keys:
        by_connector.setdefault(connector, []).append(key)
    current: dict[tuple[str, str], tuple[str, Status, str | None]] = {}
    for connector, wanted in by_connector.items():
        query = in_list(
            "SELECT id, status, error_code, external_key FROM messages"
            " WHERE connector = ? AND external_key IN {in}",
            wanted,
            before=(connector,),
        )
        # PostgreSQL: the status read decides the update and its event, so the rows are
        # locked until the transaction ends: two processes applying one receipt at once
        # (a push and a status query) would otherwise both see it open and both add the
        # final event (one webhook and one notification too many). Locked in id order,
        # so that batches holding the same messages in other orders wait rather than
        # deadlock. (SQLite has one writer: nothing to lock.)
        assert query.pg_sql is not None
        query = replace(query, pg_sql=query.pg_sql + " ORDER BY id FOR UPDATE")
        rows = yield query
        for r in rows or ():
            current[(connector, r["external_key"])] = (
                r["id"],
                Status(r["status"]),
                r["error_code"],
            )
    return current


def _find(
    current: dict[tuple[str, str], tuple[str, Status, str | None]],
    report: DeliveryReport,
    first: tuple[str, str],
) -> tuple[str, str] | None:
    """The key under which the report's message is stored, the likeliest spelling first
    (``first``: the report's connector and the key of its id as issued)."""
    # The id as issued nearly always matches: its other readings only when it does not.
    if first in current:
        return first
    for key in match_keys(report.external_id)[1:]:
        if (report.connector, key) in current:
            return (report.connector, key)
    return None


def _corrects(status: Status, error_code: str | None, reported: Status) -> bool:
    """A final report that comes after the receipt window ended the message: ``no_report``
    was textgate's "we do not know", and the operator now says what happened."""
    return (
        status is Status.EXPIRED
        and error_code == NO_REPORT
        and reported in FINAL
        and reported is not Status.EXPIRED
    )


def apply_reports(reports: Sequence[DeliveryReport], now: int, *, park_unmatched: bool) -> Txn[int]:
    """Move messages forward by their reports (never backwards; see ``core.message``)."""
    # The likeliest key first (the id as the operator issued it, nearly always): looking
    # every spelling up at once would triple the index probes of every receipt.
    firsts = [(r.connector, id_key(r.external_id)) for r in reports]
    current = yield from _current(list(dict.fromkeys(firsts)))
    unfound = [r for r, first in zip(reports, firsts, strict=True) if first not in current]
    if unfound:
        missing = [k for k in _report_keys(unfound) if k not in current]
        if park_unmatched:
            # Serialise with a record() that may be storing these ids right now, then
            # look again: what it committed meanwhile is visible to this next statement.
            yield lock_report_ids(missing)
        current.update((yield from _current(missing)))
    finals: list[tuple[Any, ...]] = []
    progress: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    unmatched: list[DeliveryReport] = []
    for rep, first in zip(reports, firsts, strict=True):
        key = _find(current, rep, first)
        if key is None:
            unmatched.append(rep)
            continue
        msg_id, status, code = current[key]
        if not may_follow(status, rep.status) and not _corrects(status, code, rep.status):
            continue
        current[key] = (msg_id, rep.status, rep.error_code)
        if rep.status in FINAL:
            finals.append((rep.status.value, rep.error_code, now, msg_id))
        else:
            check = now + RECHECK_MS
            progress.append((rep.status.value, rep.error_code, check, check, now, msg_id))
        events.append((msg_id, rep.status.value, to_ms(rep.at), rep.error_code))
    yield Many(
        "UPDATE messages SET status = ?, error_code = ?, report_check_at = NULL,"
        " updated_at = ? WHERE id = ?",
        finals,
    )
    # Still open: ask again later, but never after the end of the receipt window.
    yield Many(
        "UPDATE messages SET status = ?, error_code = ?, report_check_at = CASE"
        " WHEN report_due_at IS NOT NULL AND report_due_at < ? THEN report_due_at ELSE ? END,"
        " updated_at = ? WHERE id = ?",
        progress,
    )
    yield Many(INSERT_EVENT, events)
    if park_unmatched:
        yield Many(
            "INSERT INTO pending_reports"
            " (connector, external_id, external_key, status, at, error_code)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (r.connector, r.external_id, k, r.status.value, to_ms(r.at), r.error_code)
                for r in unmatched
                for k in match_keys(r.external_id)
            ],
        )
    return len(finals) + len(progress)


def apply_parked(recorded: Sequence[tuple[str, str]], now: int) -> Txn[None]:
    """Apply parked reports naming ids just recorded: (connector, id key) pairs."""
    by_connector: dict[str, list[str]] = {}
    for connector, key in recorded:
        by_connector.setdefault(connector, []).append(key)
    for connector, keys in by_connector.items():
        rows = yield in_list(
            "SELECT id, external_id, status, at, error_code FROM pending_reports"
            " WHERE connector = ? AND external_key IN {in} ORDER BY id",
            keys,
            before=(connector,),
        )
        if not rows:
            continue
        reports = [
            DeliveryReport(
                connector, r["external_id"], Status(r["status"]), from_ms(r["at"]), r["error_code"]
            )
            for r in rows
        ]
        yield from apply_reports(reports, now, park_unmatched=False)
        # Every key row of an applied report goes, not only the one that matched.
        yield in_list(
            "DELETE FROM pending_reports WHERE connector = ? AND external_id IN {in}",
            sorted({r["external_id"] for r in rows}),
            before=(connector,),
        )


_FIRST_RECHECK_MS = 10_000


def _next_check(now: int, since: int, due: int | None, longest: int) -> int:
    """Ask again after as long again as the message has waited (10 s at least, ``longest``
    at most, never past the end of its window): a query lost to a passing fault is soon
    repeated, a receipt that is days late is not asked for every minute."""
    wait = min(longest, max(_FIRST_RECHECK_MS, now - since))
    return now + wait if due is None else min(now + wait, max(due, now + 1))


def due_report_checks(now: int, limit: int, recheck_ms: int) -> Txn[list[ReportCheck]]:
    """Sent messages whose report is overdue. Those past their receipt window become final
    (``expired``, :data:`NO_REPORT`); the others are returned to be asked about, and their
    next check is pushed back (never past the end of their window)."""
    select = (
        "SELECT id, connector, external_id, sender, status, report_due_at, updated_at"
        " FROM messages"
        " WHERE report_check_at <= ? ORDER BY report_check_at LIMIT ?"
    )
    rows = yield Query(select, (now, limit), pg_sql=select + " FOR UPDATE SKIP LOCKED")
    if not rows:
        return []
    ended = [
        r
        for r in rows
        if r["report_due_at"] is not None
        and r["report_due_at"] <= now
        and Status(r["status"]) not in FINAL
    ]
    yield Many(
        "UPDATE messages SET status = 'expired', error_code = ?, report_check_at = NULL,"
        " updated_at = ? WHERE id = ? AND report_check_at IS NOT NULL",
        [(NO_REPORT, now, r["id"]) for r in ended],
    )
    yield Many(
        INSERT_EVENT,
        [
            (
                r["id"],
                Status.EXPIRED.value,
                now,
                "no final delivery report within the receipt window",
            )
            for r in ended
        ],
    )
    done = {r["id"] for r in ended}
    later = [r for r in rows if r["id"] not in done]
    yield Many(
        "UPDATE messages SET report_check_at = ? WHERE id = ?",
        [
            (_next_check(now, r["updated_at"], r["report_due_at"], recheck_ms), r["id"])
            for r in later
        ],
    )
    return [
        ReportCheck(r["id"], r["connector"], r["external_id"], r["sender"])
        for r in later
        if r["connector"] and r["external_id"]
    ]
