"""SQLite transactions run in the event loop's thread, and never make it wait for another
process's write lock."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tests.support import until
from textgate.storage.txn import WAL_CHECKPOINT_PAGES, Many, Query, SqliteRunner, Txn


def _count_and_add(value: int) -> Txn[int]:
    rows = yield Query("SELECT count(*) AS n FROM t")
    yield Many("INSERT INTO t (x) VALUES (?)", [(value,)])
    assert rows is not None
    return int(rows[0]["n"]) + 1


def _failing() -> Txn[None]:
    yield Many("INSERT INTO t (x) VALUES (?)", [(99,)])
    raise ValueError("the transaction's own error")


def _database(tmp_path: Path) -> str:
    path = str(tmp_path / "runner.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.close()
    return path


async def test_a_transaction_runs_in_the_loops_thread_when_the_lock_is_free(
    tmp_path: Path,
) -> None:
    runner = SqliteRunner(_database(tmp_path), synchronous="FULL")
    try:
        assert await runner.run(lambda: _count_and_add(1)) == 1
        assert await runner.run(lambda: _count_and_add(2)) == 2
        assert runner.waited == 0
        # An error inside rolls its writes back and reaches the caller.
        try:
            await runner.run(_failing)
        except ValueError:
            pass
        else:
            raise AssertionError("the error was swallowed")
        assert await runner.run(lambda: _count_and_add(3)) == 3
    finally:
        await runner.close()


async def test_a_write_lock_held_elsewhere_is_waited_for_off_the_loop(tmp_path: Path) -> None:
    """Another process (here: another connection) holds the write lock: the transaction
    waits for it in the writer thread while the event loop goes on, then commits."""
    path = _database(tmp_path)
    runner = SqliteRunner(path, synchronous="FULL")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t (x) VALUES (0)")
        txn = asyncio.create_task(runner.run(lambda: _count_and_add(1)))
        # The loop is not blocked: this coroutine runs while the transaction waits.
        ticks = 0
        while ticks < 20:
            await asyncio.sleep(0)
            ticks += 1
        await until(lambda: runner.waited == 1, "the transaction to go to the writer thread")
        assert not txn.done()
        other.execute("COMMIT")
        # It started over once the lock was free: it sees the other process's row.
        assert await txn == 2
        # The lock is free again: back in the loop's thread.
        assert await runner.run(lambda: _count_and_add(2)) == 3
        assert runner.waited == 1
    finally:
        other.close()
        await runner.close()


async def test_the_log_is_checkpointed_every_so_many_pages(tmp_path: Path) -> None:
    """The runner's connection checkpoints the write-ahead log after WAL_CHECKPOINT_PAGES
    pages, not SQLite's default 1,000 (each hot page copied once, not ten times)."""

    def setting() -> Txn[int]:
        rows = yield Query("PRAGMA wal_autocheckpoint")
        assert rows is not None
        return int(rows[0][0])

    runner = SqliteRunner(_database(tmp_path), synchronous="FULL")
    try:
        assert WAL_CHECKPOINT_PAGES == 10_000
        assert await runner.run(setting) == WAL_CHECKPOINT_PAGES
    finally:
        await runner.close()
