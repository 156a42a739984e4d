"""Driver failures become StorageUnavailable once, at the storage boundary; other errors
pass unchanged (SQLSTATEs: PostgreSQL documentation, Appendix A "PostgreSQL Error Codes")."""

from __future__ import annotations

import sqlite3

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from textgate.errors import Conflict, NotFound, StorageUnavailable
from textgate.storage.db import conflicts, map_storage_errors

exc = asyncpg.exceptions
UNAVAILABLE: list[BaseException] = [
    exc.QueryCanceledError("canceling statement due to statement timeout"),  # 57014
    exc.AdminShutdownError("terminating connection due to administrator command"),  # 57P01
    exc.CannotConnectNowError("the database system is starting up"),  # 57P03
    exc.TooManyConnectionsError("sorry, too many clients already"),  # 53300
    exc.DeadlockDetectedError("deadlock detected"),  # 40P01
    exc.SerializationError("could not serialize access"),  # 40001
    exc.LockNotAvailableError("canceling statement due to lock timeout"),  # 55P03
    exc.ConnectionDoesNotExistError("connection was closed in the middle of operation"),  # 08003
    exc.InterfaceError("connection is closed"),
    ConnectionResetError(104, "Connection reset by peer"),
    PoolTimeout("QueuePool limit of size 10 overflow 10 reached"),
    sqlite3.OperationalError("database is locked"),
]
# The same, as SQLAlchemy raises them: a DBAPIError wrapping the driver's error.
WRAPPED: list[BaseException] = [DBAPIError("SELECT 1", None, e) for e in UNAVAILABLE[:8]]  # type: ignore[arg-type]


def _raise(error: BaseException) -> None:
    with map_storage_errors():
        raise error


@pytest.mark.parametrize("error", UNAVAILABLE + WRAPPED, ids=lambda e: type(e).__name__)
def test_the_database_state_of_the_moment_is_unavailable(error: BaseException) -> None:
    with pytest.raises(StorageUnavailable) as raised:
        _raise(error)
    assert raised.value.__cause__ is error


@pytest.mark.parametrize(
    "error",
    [
        ProgrammingError("SELEC 1", None, exc.PostgresSyntaxError("syntax error")),  # 42601
        IntegrityError("INSERT", None, exc.UniqueViolationError("duplicate key")),  # 23505
        exc.DivisionByZeroError("division by zero"),  # 22012
        ValueError("a bug"),
        NotFound("not here"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_other_errors_pass_unchanged(error: Exception) -> None:
    with pytest.raises(type(error)) as raised:
        _raise(error)
    assert raised.value is error


def test_integrity_errors_of_the_drivers_are_conflicts() -> None:
    with pytest.raises(Conflict):
        _raise(exc.UniqueViolationError("duplicate key"))


def test_a_core_write_has_its_constraint_violations_as_conflicts() -> None:
    violation = exc.UniqueViolationError("duplicate key")
    with pytest.raises(Conflict) as raised, conflicts():
        raise IntegrityError("INSERT", None, violation)
    assert "duplicate key" in raised.value.message
    with pytest.raises(NotFound), conflicts():
        raise NotFound("not here")
