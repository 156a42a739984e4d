"""Fixtures: a migrated database per test (SQLite file, or PostgreSQL when
TEXTGATE_TEST_DATABASE_URL is set), a running gateway, and a loopback-only network guard."""

from __future__ import annotations

import ipaddress
import logging
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.support import Running, database_url, postgres_url, running_gateway
from textgate.config import Settings
from textgate.storage.db import Database
from textgate.storage.migrate import head_revision, upgrade
from textgate.storage.tables import metadata

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if isinstance(address, tuple) and self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if host != "localhost" and (ip is None or not ip.is_loopback):
            raise RuntimeError(f"tests must stay on loopback, tried {address!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def root_logging_restored() -> Iterator[None]:
    """Commands under test configure logging for their process (handlers, level, a
    redacting filter); the next test starts from what was there before."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    yield


# Every table of the schema, so a new table is emptied between tests without a list to keep.
_PG_TABLES = tuple(t.name for t in metadata.sorted_tables)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite database migrated to the newest revision; each test gets a copy of the
    file. Running the migrations for every test cost about half a second a test."""
    import asyncio

    path = tmp_path_factory.mktemp("template") / "textgate.db"

    async def build() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    asyncio.run(build())
    # The last connection closed checkpoints the WAL into the file: the file is the database.
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture
async def db_url(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[str]:
    url = database_url(tmp_path)
    if postgres_url() is None:
        shutil.copyfile(sqlite_template, tmp_path / "textgate.db")
    else:
        await _postgres_emptied(url)
    yield url


async def _postgres_emptied(url: str) -> None:
    """The shared PostgreSQL database at the newest schema (a test may have left it
    elsewhere), every table empty and every identity counting from 1 again. DELETE rather
    than TRUNCATE: on tables this small it takes a tenth of the time (TRUNCATE makes new
    files for every table, about 0.1 s a test)."""
    parts = make_url(url)
    conn = await asyncpg.connect(
        host=parts.host,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        database=parts.database,
    )
    try:
        revision = None
        if await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
            revision = await conn.fetchval("SELECT max(version_num) FROM alembic_version")
        if revision != head_revision():
            db = Database(url)
            try:
                await upgrade(db)
            finally:
                await db.dispose()
        async with conn.transaction():
            # The names are the schema's own tables (tables.metadata).
            deletes = (f"DELETE FROM {t}" for t in reversed(_PG_TABLES))  # noqa: S608
            await conn.execute("; ".join(deletes))
            restarts = await conn.fetch(
                "SELECT format('ALTER SEQUENCE %I.%I RESTART', schemaname, sequencename)"
                " FROM pg_sequences WHERE schemaname = current_schema()"
            )
            if restarts:
                await conn.execute("; ".join(r[0] for r in restarts))
    finally:
        await conn.close()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """The test's migrated database, opened as a gateway opens it (for storage tests)."""
    database = Database(db_url, sqlite_synchronous="NORMAL")
    yield database
    await database.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=db_url,
        demo_account=False,
        sqlite_synchronous="NORMAL",
        connectors=[{"name": "sim", "type": "simulator", "options": {"report_delay_ms": 50}}],
    )


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Running]:
    async with running_gateway(settings) as running:
        yield running


@pytest.fixture
async def api_key(gateway: Running) -> str:
    accounts = gateway.gateway.services.accounts
    account = await accounts.create("acme")
    return (await accounts.issue_key(account.id)).token


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}
