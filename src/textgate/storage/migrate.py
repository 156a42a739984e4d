"""Apply Alembic migrations (on start for SQLite; ``textgate migrate`` for PostgreSQL)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from textgate.storage.db import Database

__all__ = [
    "SchemaState",
    "ShippedMigrations",
    "current_revision",
    "head_revision",
    "shipped_migrations",
    "upgrade",
]

_SCRIPTS = Path(__file__).parent / "migrations"


def _config(connection: Any = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    return shipped_migrations().newest


async def upgrade(db: Database, revision: str = "head") -> None:
    # Every SQLite start asks for the newest schema, which it nearly always has already:
    # Alembic would read all the scripts again to find that out.
    if revision == "head" and await current_revision(db) == shipped_migrations().newest:
        return

    def run(sync_conn: Any) -> None:
        command.upgrade(_config(sync_conn), revision)

    async with db.write() as conn:
        await conn.run_sync(run)


async def current_revision(db: Database) -> str | None:
    def read(sync_conn: Any) -> str | None:
        return MigrationContext.configure(sync_conn).get_current_revision()

    async with db.read() as conn:
        return await conn.run_sync(read)


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where the database's schema stands against the migrations this code ships."""

    applied: str | None
    """The database's revision; None before the first migration."""
    newest: str | None
    """The newest revision shipped with this code."""
    known: bool
    """``applied`` is one of ours. An unknown one was written by a newer release."""

    @property
    def behind(self) -> bool:
        """Migrations this code needs are not applied: its statements may fail."""
        return self.applied != self.newest and (self.applied is None or self.known)


class ShippedMigrations:
    """The migrations shipped with this code, read once (parsing the scripts takes a while)
    and compared with a database as often as asked."""

    def __init__(self) -> None:
        script = ScriptDirectory.from_config(_config())
        self.newest = script.get_current_head()
        self._revisions = frozenset(r.revision for r in script.walk_revisions())

    async def state(self, db: Database) -> SchemaState:
        applied = await current_revision(db)
        return SchemaState(applied, self.newest, applied in self._revisions)


@functools.cache
def shipped_migrations() -> ShippedMigrations:
    """The migrations shipped with this code, read once per process: they are files of the
    installed package, and reading them (Alembic runs every script) takes 40-90 ms, which
    every gateway start and readiness check would otherwise pay."""
    return ShippedMigrations()
