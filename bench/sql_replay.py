"""Replays the SQL one message costs, with the stdlib sqlite3 module in one thread.

It measures the database's share of the end-to-end pipeline with no gateway Python around
it: store 100,000 messages in orders of 1,000 (message rows + status history), then claim,
record as sent and apply delivered reports in batches of 1,000, exactly the statements of
``storage/orders.py`` and ``storage/queue.py``, on a database migrated by textgate.

    .venv/bin/python bench/sql_replay.py [--synchronous FULL|NORMAL] [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from textgate.core.ids import IdGenerator
from textgate.storage.db import Database
from textgate.storage.migrate import upgrade

INSERT_EVENT = "INSERT INTO message_events (message_id, status, at, detail) VALUES (?,?,?,?)"


async def _migrate(path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade(db)
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    n, b = args.messages, args.batch
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replay.db"
        asyncio.run(_migrate(path))
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={args.synchronous}")
        conn.execute("INSERT INTO accounts (id, name, created_at) VALUES ('A', 'a', 0)")
        ids = IdGenerator()
        phases: dict[str, float] = {}

        def txn(name: str, body: Callable[[], None]) -> None:
            t = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            body()
            conn.execute("COMMIT")
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - t

        start = time.perf_counter()
        for _ in range(n // b):
            mids = [ids() for _ in range(b)]
            oid = ids()

            def store(mids: list[str] = mids, oid: str = oid) -> None:
                conn.execute(
                    "INSERT INTO orders (id, account_id, created_at, interface, client_ref,"
                    " recipients) VALUES (?,?,?,?,?,?)",
                    (oid, "A", 1, "native", None, b),
                )
                conn.executemany(
                    "INSERT INTO messages (id, order_id, account_id, interface, recipient,"
                    " sender, text, encoding, segments, country, client_ref, status, reason,"
                    " error_code, attempts, next_attempt_at, scheduled_at, created_at,"
                    " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?,?,?,?)",
                    [
                        (
                            m,
                            oid,
                            "A",
                            "native",
                            f"+3362{i:07d}",
                            None,
                            "hello",
                            "gsm7",
                            1,
                            "FR",
                            None,
                            "queued",
                            None,
                            None,
                            1,
                            None,
                            1,
                            1,
                        )
                        for i, m in enumerate(mids)
                    ],
                )
                conn.executemany(INSERT_EVENT, [(m, "queued", 1, None) for m in mids])

            txn("store", store)
        claimed: list[str] = []
        for _ in range(n // b):

            def claim() -> None:
                rows = conn.execute(
                    "SELECT id FROM messages WHERE next_attempt_at <= ?"
                    " ORDER BY next_attempt_at LIMIT ?",
                    (10, b),
                ).fetchall()
                claimed[:] = [r[0] for r in rows]
                marks = ",".join("?" * len(claimed))
                conn.execute(
                    "UPDATE messages SET status='sending', next_attempt_at=99999999,"  # noqa: S608
                    f" attempts=attempts+1, claimed_by='w', updated_at=2 WHERE id IN ({marks})",
                    claimed,
                )
                conn.executemany(INSERT_EVENT, [(m, "sending", 2, None) for m in claimed])

            def record() -> None:
                conn.executemany(
                    "UPDATE messages SET status='sent', connector=?, external_id=?,"
                    " report_check_at=?, next_attempt_at=NULL, claimed_by=NULL, updated_at=?"
                    " WHERE id=? AND claimed_by=? AND attempts=? AND status='sending'",
                    [("sim", "x" + m, 5, 3, m, "w", 1) for m in claimed],
                )
                conn.executemany(INSERT_EVENT, [(m, "sent", 3, None) for m in claimed])

            def report() -> None:
                ext = ["x" + m for m in claimed]
                marks = ",".join("?" * len(ext))
                rows = conn.execute(
                    f"SELECT id FROM messages WHERE connector = ? AND external_id IN ({marks})",  # noqa: S608
                    ["sim", *ext],
                ).fetchall()
                conn.executemany(
                    "UPDATE messages SET status=?, error_code=?, report_check_at=?,"
                    " updated_at=? WHERE id=?",
                    [("delivered", None, None, 4, r[0]) for r in rows],
                )
                conn.executemany(INSERT_EVENT, [(r[0], "delivered", 4, None) for r in rows])

            txn("claim", claim)
            txn("record", record)
            txn("report", report)
        total = time.perf_counter() - start
        conn.close()
    print(f"synchronous={args.synchronous}, {n:,} messages, {b:,} per transaction")
    for name, seconds in phases.items():
        print(f"  {name:<8} {seconds:6.2f} s")
    print(f"  total    {total:6.2f} s  = {n / total:,.0f} messages/s of writer-thread time")


if __name__ == "__main__":
    main()
