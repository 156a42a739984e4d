"""Engine factory and transaction helpers. Built by ``create_app``/the CLI, never at import.

SQLite allows one writer at a time. Instead of letting concurrent writers spin on
``SQLITE_BUSY``, writes in one process queue on an asyncio lock; reads run beside them
thanks to WAL. On PostgreSQL writes run concurrently and row locks do the rest.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event, make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from textgate.errors import Conflict, GatewayError, StorageUnavailable
from textgate.storage.txn import PgRunner, SqliteRunner, Txn, TxnRunner, sqlite_pragmas
from textgate.storage.writelock import WriteTurn

T = TypeVar("T")

__all__ = [
    "Database",
    "conflicts",
    "hide_driver_arguments",
    "map_storage_errors",
    "unavailable",
]

log = logging.getLogger(__name__)


# PostgreSQL error classes that mean "not now": the same work may succeed on a later try
# (PostgreSQL documentation, Appendix A "PostgreSQL Error Codes"). Class 08 connection
# exception; 53 insufficient resources (53300 too_many_connections); 57 operator
# intervention (57014 query_canceled, which statement_timeout raises; 57P01 admin_shutdown,
# a server restart or pg_terminate_backend; 57P03 cannot_connect_now).
_TRANSIENT_CLASSES = frozenset({"08", "53", "57"})
# Single codes of other classes: 40001 serialization_failure, 40P01 deadlock_detected,
# 55P03 lock_not_available (lock_timeout), 25P03 idle_in_transaction_session_timeout.
_TRANSIENT_CODES = frozenset({"40001", "40P01", "55P03", "25P03"})
# Raised by the drivers and the pool themselves (a lost socket, a closed connection, a pool
# checkout timeout), not by the server.
_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeout,
    OSError,
    sqlite3.OperationalError,
    asyncpg.InterfaceError,
)


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps, outermost first: SQLAlchemy's ``orig`` and the
    ``raise from`` chain (not ``__context__``: an error raised while handling another is
    not caused by it)."""
    chain: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or any(current is c for c in chain):
            continue
        chain.append(current)
        todo.extend((getattr(current, "orig", None), current.__cause__))
    return chain


def _transient(cause: BaseException) -> bool:
    if isinstance(cause, DBAPIError) and cause.connection_invalidated:
        return True
    state = getattr(cause, "sqlstate", None)
    if isinstance(state, str):
        return state[:2] in _TRANSIENT_CLASSES or state in _TRANSIENT_CODES
    return isinstance(cause, _TRANSIENT_TYPES)


def unavailable(exc: BaseException) -> BaseException | None:
    """The driver failure that makes ``exc`` a "database unavailable", else None: the
    innermost transient one, which names the real cause (QueryCanceledError, not the
    wrapper SQLAlchemy put around it)."""
    found = [c for c in _causes(exc) if _transient(c)]
    return found[-1] if found else None


@contextlib.contextmanager
def map_storage_errors() -> Iterator[None]:
    """Translate driver failures into the gateway's error tree, once, at the boundary.

    Errors that are not the database's state of the moment (a bad statement, a bug) pass
    through unchanged."""
    try:
        yield
    except (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError) as exc:
        raise Conflict(f"conflicting write: {exc}") from exc
    except GatewayError:
        raise
    except Exception as exc:
        cause = unavailable(exc)
        if cause is None:
            raise
        raise StorageUnavailable(f"database unavailable: {type(cause).__name__}") from exc


@contextlib.contextmanager
def conflicts() -> Iterator[None]:
    """A constraint violation of a Core statement as Conflict, as :func:`map_storage_errors`
    makes the drivers' own of ``txn`` transactions. SQLAlchemy wraps them in its
    IntegrityError, which passes that boundary unchanged so that a repository may catch it
    (a race it expects); this is for writes that have no such race to handle."""
    try:
        yield
    except IntegrityError as exc:
        cause = _causes(exc)[-1]
        raise Conflict(f"conflicting write: {cause}") from exc


class Database:
    """An async engine plus the write discipline its dialect needs."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL", echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # Statement parameters carry what clients send (texts, sealed secrets, hashes):
        # they never go into a log, whatever the log level.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        hide_driver_arguments()
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        else:
            # One pool for the whole process, hot-path runner included. No pre-ping: it
            # costs three round trips (BEGIN, a ping, ROLLBACK) at every checkout, and the
            # hot-path transactions check out as often as they commit. The checkout check
            # below costs nothing and catches what a server restart leaves in the pool.
            kwargs.update(pool_size=10, max_overflow=10)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if not self.is_sqlite:
            _install_closed_check(self.engine)
        self._write_lock = WriteTurn() if self.is_sqlite else None
        self._runner: TxnRunner
        if self.is_sqlite:
            _install_sqlite_pragmas(self.engine, sqlite_synchronous)
            self._runner = SqliteRunner(
                make_url(url).database or "", synchronous=sqlite_synchronous
            )
        else:
            # The hot-path runner borrows its connections from this engine's pool.
            self._runner = PgRunner(self.engine)

    @property
    def writers_waiting(self) -> int:
        """Writers queued for SQLite's write turn (0 on PostgreSQL, which has none)."""
        return 0 if self._write_lock is None else self._write_lock.waiting

    async def txn(
        self, make: Callable[[], Txn[T]], *, urgent: bool = False, link: bool = False
    ) -> T:
        """Run a hot-path transaction (see ``storage.txn``).

        ``urgent``: a client is waiting for it (storing an order); on SQLite it gets most
        write turns while background work queues. ``link``: an operator link waits for it
        (reports, inbound messages); it goes first (see ``storage.writelock``).
        """
        with map_storage_errors():
            if self._write_lock is None:
                return await self._runner.run(make)
            async with self._write_lock.hold(urgent=urgent, link=link):
                return await self._runner.run(make)

    @contextlib.asynccontextmanager
    async def write(
        self, *, urgent: bool = True, link: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        """A connection inside a transaction that commits on success.

        ``urgent`` False: background work, which on SQLite yields the write turn to what
        clients wait for; ``link``: an operator link waits for it (see ``txn``)."""
        with map_storage_errors():
            if self._write_lock is None:
                async with self.engine.begin() as conn:
                    yield conn
                return
            async with (
                self._write_lock.hold(urgent=urgent, link=link),
                self.engine.begin() as conn,
            ):
                yield conn

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        with map_storage_errors():
            async with self.engine.connect() as conn:
                yield conn

    async def ping(self) -> bool:
        from sqlalchemy import text

        try:
            async with self.read() as conn:
                await conn.execute(text("SELECT 1"))
        except StorageUnavailable:
            return False
        except Exception as exc:
            # A connection killed under the pool can surface as a driver error that is not
            # one of the transient classes; /healthz and /readyz must still answer (503).
            log.info("database ping failed: %r", exc)
            return False
        return True

    async def dispose(self) -> None:
        await self._runner.close()
        await self.engine.dispose()


def _install_closed_check(engine: AsyncEngine) -> None:
    """Never hand out a pooled connection that is known to be closed.

    A server restart (or ``pg_terminate_backend``) closes every idle connection in the
    pool; asyncpg learns it from the socket at once, without a round trip. Raising
    ``DisconnectionError`` at checkout makes the pool drop that connection and check out
    (or open) another, so the first request after a restart succeeds instead of meeting
    the dead connection at BEGIN."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_conn.driver_connection.is_closed():
            raise DisconnectionError("the pooled connection was closed by the server")


def _install_sqlite_pragmas(engine: AsyncEngine, synchronous: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        sqlite_pragmas(dbapi_conn, synchronous)


# Loggers that put statement arguments or result rows into their records: aiosqlite logs
# every call it runs in its thread at DEBUG, as the bound call with its arguments (the SQL
# and its parameters); SQLAlchemy's engine logger, once someone turns it to DEBUG, logs every
# result row (``hide_parameters`` covers only the parameters).
_DRIVER_LOGGERS = ("aiosqlite", "sqlalchemy.engine.Engine")


class _WithoutArguments(logging.Filter):
    """Keeps a driver's record but hides what its arguments carry: a bound call becomes the
    called function's name, an exception its class, anything but a plain scalar a
    placeholder. The record still says what ran, not with what."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_described(a) for a in record.args)
        elif record.args:
            record.args = {k: _described(v) for k, v in record.args.items()}
        return True


def _described(value: object) -> object:
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, functools.partial):
        func = value.func
        return f"{getattr(func, '__qualname__', type(func).__name__)}(...)"
    return f"<{type(value).__name__}>"


def hide_driver_arguments() -> None:
    """Install the filter on the drivers' loggers (once per process; idempotent)."""
    for name in _DRIVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _WithoutArguments) for f in logger.filters):
            logger.addFilter(_WithoutArguments())
