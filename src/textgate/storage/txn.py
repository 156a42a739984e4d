"""Hot-path transactions written once, run on SQLite and PostgreSQL without an ORM layer.

Where it is used because a benchmark shows it matters (``bench/RESULTS.md``, "Hot-path SQL
without the ORM layer" and the profile after it): every message goes through four
transactions, run many thousands of rows a second, and SQLAlchemy Core with its greenlet
and aiosqlite bridge took 42 % (single) and 38 % (batch) of the gateway's CPU there:

- storing orders: ``storage.orders``, with the account rules of ``storage.admission`` and
  the ledger, usage and opt-out steps of ``storage.credits`` in the same transaction;
- claiming due messages: ``storage.queue`` (``claim``, ``renew``);
- recording outcomes: ``storage.queue`` (``record``, ``record_late``);
- applying delivery reports: ``storage.reports``.

The rest of storage uses SQLAlchemy Core on ``storage.tables``. Four transactions stay
here because they are made of hot-path steps, which are written once: the cancel of
``messages`` (the refund step of the report path), crediting in the ``credits`` repository
(the balance lock and ledger write of every path), a phone's state reports
(``device_queue``, through the report path's ``apply_reports``) and the android
connector's sweep (``device_sweep``); the last two end messages with the refund step of
``credits``. Every string statement is checked against the schema by
``tests/storage/test_sql_statements.py``.

SQLAlchemy's per-statement machinery and aiosqlite's per-call thread hop cost more than the
database work itself. Here a transaction is a generator that yields statements and
receives their rows:

    def claim(...) -> Txn[list[Claim]]:
        rows = yield Query("SELECT ... WHERE next_attempt_at <= ?", (now,))
        yield Many("INSERT INTO message_events ... VALUES (?, ?, ?, ?)", event_rows)
        return claims

On SQLite the whole generator runs in the event loop's own thread (``SqliteRunner`` says
why, and when it goes to a writer thread instead), with the stdlib ``sqlite3`` module doing
``executemany`` in C. On PostgreSQL it
runs inside a transaction on the asyncpg connection under one of the SQLAlchemy engine's
pooled connections (one pool per process). Statements use ``?`` placeholders and are
rewritten to ``$1..$n`` for asyncpg; :func:`in_list` expands a variable-length IN.
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

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = [
    "WAL_CHECKPOINT_PAGES",
    "Many",
    "PgRunner",
    "Query",
    "Rows",
    "SqliteRunner",
    "Txn",
    "TxnRunner",
    "in_list",
    "sqlite_pragmas",
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


WAL_CHECKPOINT_PAGES = 10_000
"""Pages of write-ahead log after which a commit checkpoints it into the database."""


def sqlite_pragmas(conn: Any, synchronous: str, *, busy_timeout_ms: int = 30_000) -> None:
    """Set up one SQLite connection, whoever opens it (the engine's connections and the
    runner's writer): WAL so that reads run beside the writer, the configured durability,
    a wait on a locked database rather than an error, enforced foreign keys, temporary
    tables in memory. ``conn`` is a DB-API connection (``sqlite3`` or the engine's
    adapter); ``synchronous`` FULL, or anything else for NORMAL."""
    level = "FULL" if synchronous.upper() == "FULL" else "NORMAL"
    cur = conn.cursor()
    try:
        for pragma in (
            "journal_mode=WAL",
            f"synchronous={level}",
            f"busy_timeout={busy_timeout_ms}",
            "foreign_keys=ON",
            "temp_store=MEMORY",
            # Checkpoints run in the committing connection (on the hot path, the event
            # loop's): one every 10,000 pages of log (about 40 MiB) rather than SQLite's
            # 1,000 copies each hot page once where it copied it ten times. 7 % fewer bytes
            # written a message, 13 % less CPU in eight pairs (bench/RESULTS.md, "Kept: a
            # checkpoint every 10,000 pages").
            f"wal_autocheckpoint={WAL_CHECKPOINT_PAGES}",
        ):
            cur.execute(f"PRAGMA {pragma}")
    finally:
        cur.close()


class TxnRunner:
    """Runs transactions; one per database."""

    async def run(self, make: Callable[[], Txn[T]]) -> T:  # pragma: no cover - interface
        raise NotImplementedError

    async def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class SqliteRunner(TxnRunner):
    """Runs each transaction in the event loop's own thread, on a connection that never
    waits for SQLite's write lock; in a thread of its own when it would have to.

    SQLite has one writer, and the gateway's process is normally the only one writing: the
    write lock is free, and a transaction (a group commit of orders, a claim, a batch of
    receipts) takes a fraction of a millisecond. Handing each to a writer thread cost more
    than running it: the hop there and back (an executor future, a wake-up of the loop) and
    the two threads taking turns on the GIL between statements. Run inline, the
    single-recipient benchmark accepted 11 % more messages for 10-15 % less CPU per message,
    and over a third more through SMPP (bench/RESULTS.md, "Transactions in the event loop's
    thread").

    Another process may hold the lock (a CLI command, a second gateway, ``textgate
    migrate``): waiting for it here would stop the whole loop for as long, so the inline
    connection does not wait (busy timeout 0); a transaction that finds the database locked
    as it begins goes to the writer thread, whose connection waits up to 30 s. (Once begun,
    a transaction holds the write lock: in WAL mode nothing after BEGIN IMMEDIATE waits for
    another writer.)
    """

    def __init__(self, path: str, *, synchronous: str) -> None:
        self._path = path
        self._synchronous = synchronous
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._closed = False
        self._local = threading.local()
        self._inline: sqlite3.Connection | None = None
        self.waited = 0
        """Transactions that found the database locked and ran in the writer thread."""

    def _connect(self, *, timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, isolation_level=None, timeout=timeout, check_same_thread=True
        )
        conn.row_factory = sqlite3.Row
        sqlite_pragmas(conn, self._synchronous, busy_timeout_ms=int(timeout * 1000))
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect(timeout=30)
        return conn

    def _run_sync(self, make: Callable[[], Txn[T]]) -> T:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        return _drive(conn, make)

    async def run(self, make: Callable[[], Txn[T]]) -> T:
        try:
            if self._inline is None:
                self._inline = self._connect(timeout=0)
            self._inline.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            # Another process writes: wait for it in the writer thread, not in the loop.
            self.waited += 1
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._run_sync, make)
        return _drive(self._inline, make)

    def _close_sync(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    async def close(self) -> None:
        """Idempotent, as the engine's dispose is: a gateway whose start failed is closed
        by the start and may be stopped again by its owner."""
        if self._closed:
            return
        self._closed = True
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_sync)
        self._executor.shutdown(wait=True)


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY (and its extended codes): another connection holds the lock."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def _drive(conn: sqlite3.Connection, make: Callable[[], Txn[T]]) -> T:
    """Run the statements ``make``'s generator yields in the transaction ``conn`` began,
    then commit (roll back on any error)."""
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


class PgRunner(TxnRunner):
    """Runs transactions on connections of the SQLAlchemy engine's pool, so a process has
    one pool: each transaction checks a connection out and drives its asyncpg connection
    directly (SQLAlchemy's per-statement layer is what the hot paths avoid). Statements are
    rewritten to ``$n`` placeholders once and cached. (The LISTEN connection of
    ``storage.notify`` stays a dedicated connection outside the pool: it is held for the
    life of the process and must not be reset or recycled by the pool.)"""

    # Longest a statement may take before asyncpg gives up on it (seconds).
    COMMAND_TIMEOUT = 60.0

    # Connections kept checked out between transactions, at most: a checkout from the
    # engine's pool costs about half a statement's round trip in CPU (bench/RESULTS.md,
    # "PostgreSQL: transactions without a pool checkout each"), and the hot paths run
    # hundreds of transactions a second. More at once check out and back as before.
    KEEP = 4

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sql_cache: dict[str, str] = {}
        self._idle: list[tuple[AsyncConnection, Any]] = []
        self._closed = False

    def _pg(self, sql: str) -> str:
        cached = self._sql_cache.get(sql)
        if cached is None:
            cached = _to_dollar(sql)
            if len(self._sql_cache) < 10_000:
                self._sql_cache[sql] = cached
        return cached

    async def run(self, make: Callable[[], Txn[T]]) -> T:
        pooled, conn = await self._take()
        try:
            result = await self._run_on(conn, make)
        except BaseException:
            # The pool knows nothing of what ran on the driver connection: one left
            # inside a transaction (cancelled during its rollback) or lost is dropped
            # rather than handed out again. The pool's other connections are not
            # renewed here: those a server restart closed are dropped at checkout
            # (``storage.db``) or when taken from the idle list, and disposing of the pool
            # would orphan the live ones other transactions hold.
            if conn.is_closed() or conn.is_in_transaction():
                await pooled.invalidate()
            await pooled.close()
            raise
        if self._closed or conn.is_closed() or len(self._idle) >= self.KEEP:
            await pooled.close()
        else:
            self._idle.append((pooled, conn))
        return result

    async def _take(self) -> tuple[AsyncConnection, Any]:
        """A connection kept from an earlier transaction, else one checked out."""
        while self._idle:
            pooled, conn = self._idle.pop()
            if not conn.is_closed():
                return pooled, conn
            # The server closed it while it waited here (a restart): drop it.
            await pooled.invalidate()
            await pooled.close()
        pooled = await self._engine.connect()
        try:
            raw = await pooled.get_raw_connection()
        except BaseException:
            await pooled.close()
            raise
        return pooled, raw.driver_connection

    async def _run_on(self, conn: Any, make: Callable[[], Txn[T]]) -> T:
        timeout = self.COMMAND_TIMEOUT
        async with conn.transaction():
            gen = make()
            try:
                stmt = next(gen)
                while True:
                    if isinstance(stmt, Many):
                        if stmt.rows:
                            await conn.executemany(self._pg(stmt.sql), stmt.rows, timeout=timeout)
                        stmt = gen.send(None)
                    else:
                        sql = self._pg(stmt.pg_sql or stmt.sql)
                        params = stmt.params if stmt.pg_params is None else stmt.pg_params
                        rows = await conn.fetch(sql, *params, timeout=timeout)
                        stmt = gen.send(list(rows))
            except StopIteration as done:
                result: T = done.value
                return result

    async def close(self) -> None:
        """Check the kept connections back in; the engine's pool is disposed with the
        engine. Idempotent."""
        self._closed = True
        idle, self._idle = self._idle, []
        for pooled, _ in idle:
            await pooled.close()
