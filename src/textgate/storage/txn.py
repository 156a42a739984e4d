"""Hot-path transactions written once, run on SQLite and PostgreSQL without an ORM layer.

The hot paths (storing orders, claiming, recording outcomes, applying reports) run many
thousands of rows a second; SQLAlchemy's per-statement machinery and aiosqlite's per-call
thread hop cost more than the database work itself. Here a transaction is a generator that
yields statements and receives their rows:

    def claim(...) -> Txn[list[Claim]]:
        rows = yield Query("SELECT ... WHERE next_attempt_at <= ?", (now,))
        yield Many("INSERT INTO message_events ... VALUES (?, ?, ?, ?)", event_rows)
        return claims

On SQLite the whole generator runs in the database's own writer thread, one hop per
transaction, with the stdlib ``sqlite3`` module doing ``executemany`` in C. On PostgreSQL it
runs on an asyncpg connection inside a transaction. Statements use ``?`` placeholders and
are rewritten to ``$1..$n`` for asyncpg; :func:`in_list` expands a variable-length IN.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "Many",
    "PgRunner",
    "Query",
    "Rows",
    "SqliteRunner",
    "Txn",
    "TxnRunner",
    "in_list",
]

T = TypeVar("T")
Row = Any  # sqlite3.Row or asyncpg.Record: both index by column name
Rows = list[Row]


@dataclass(frozen=True, slots=True)
class Query:
    """One statement; its rows (if any) are sent back into the transaction."""

    sql: str
    """The statement; "" for one PostgreSQL alone runs (advisory locks, NOTIFY): SQLite
    has one writer and no listeners, so there it sends back no rows without a round."""
    params: Sequence[Any] = ()
    pg_sql: str | None = None
    """A PostgreSQL-only variant (row locking clauses and the like)."""
    pg_params: Sequence[Any] | None = None


@dataclass(frozen=True, slots=True)
class Many:
    """One statement executed for every parameter tuple; sends back None."""

    sql: str
    rows: Sequence[Sequence[Any]]


Txn = Generator[Query | Many, Rows | None, T]


def in_list(
    template: str, values: Sequence[Any], *, before: Sequence[Any] = (), after: Sequence[Any] = ()
) -> Query:
    """Expand ``IN {in}`` in ``template`` for ``values``.

    SQLite gets ``IN (?, ?, ...)``; PostgreSQL gets ``= ANY(?)`` with one array parameter,
    so it prepares one statement whatever the list's length. ``before``/``after`` are the
    parameters that stand before and after the list.
    """
    marks = ", ".join("?" * len(values)) if values else "NULL"
    return Query(
        template.replace("IN {in}", f"IN ({marks})"),
        (*before, *values, *after),
        pg_sql=template.replace("IN {in}", "= ANY(?)"),
        pg_params=(*before, list(values), *after),
    )


_QMARK = re.compile(r"\?")


def _to_dollar(sql: str) -> str:
    counter = iter(range(1, 100_000))
    return _QMARK.sub(lambda _: f"${next(counter)}", sql)


class TxnRunner:
    """Runs transactions; one per database."""

    async def run(self, make: Callable[[], Txn[T]]) -> T:  # pragma: no cover - interface
        raise NotImplementedError

    async def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class SqliteRunner(TxnRunner):
    """One connection in one thread: SQLite has a single writer anyway."""

    def __init__(self, path: str, *, synchronous: str) -> None:
        self._path = path
        self._synchronous = "FULL" if synchronous.upper() == "FULL" else "NORMAL"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self._path, isolation_level=None, timeout=30, check_same_thread=True
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def _run_sync(self, make: Callable[[], Txn[T]]) -> T:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            gen = make()
            try:
                stmt = next(gen)
                while True:
                    if isinstance(stmt, Many):
                        if stmt.rows:
                            conn.executemany(stmt.sql, stmt.rows)
                        stmt = gen.send(None)
                    elif stmt.sql:
                        stmt = gen.send(conn.execute(stmt.sql, stmt.params).fetchall())
                    else:
                        stmt = gen.send([])
            except StopIteration as done:
                conn.execute("COMMIT")
                result: T = done.value
                return result
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    async def run(self, make: Callable[[], Txn[T]]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run_sync, make)

    def _close_sync(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_sync)
        self._executor.shutdown(wait=True)


class PgRunner(TxnRunner):
    """A small asyncpg pool; statements rewritten to ``$n`` placeholders once and cached."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 8) -> None:
        self._dsn = dsn
        self._min = min_size
        self._max = max_size
        self._pool: Any = None
        self._lock = asyncio.Lock()
        self._sql_cache: dict[str, str] = {}

    def _pg(self, sql: str) -> str:
        cached = self._sql_cache.get(sql)
        if cached is None:
            cached = _to_dollar(sql)
            if len(self._sql_cache) < 10_000:
                self._sql_cache[sql] = cached
        return cached

    async def _get_pool(self) -> Any:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    import asyncpg  # type: ignore[import-untyped]

                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=self._min,
                        max_size=self._max,
                        timeout=10,
                        command_timeout=60,
                    )
        return self._pool

    async def run(self, make: Callable[[], Txn[T]]) -> T:
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.transaction():
            gen = make()
            try:
                stmt = next(gen)
                while True:
                    if isinstance(stmt, Many):
                        if stmt.rows:
                            await conn.executemany(self._pg(stmt.sql), stmt.rows)
                        stmt = gen.send(None)
                    else:
                        sql = self._pg(stmt.pg_sql or stmt.sql)
                        params = stmt.params if stmt.pg_params is None else stmt.pg_params
                        stmt = gen.send(list(await conn.fetch(sql, *params)))
            except StopIteration as done:
                result: T = done.value
                return result

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
