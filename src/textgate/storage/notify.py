"""Cross-process wake-ups: PostgreSQL LISTEN/NOTIFY on the ``textgate_due`` channel.

The order writer issues ``pg_notify`` inside the transaction that stores new messages, so
the notification is delivered exactly when they become visible. SQLite deployments are a
single process and need nothing here; the in-process wake-up covers them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from textgate.errors import StorageUnavailable
from textgate.loops import Backoff, LoopRegistry, stop_loop
from textgate.storage.db import map_storage_errors

__all__ = ["CHANNEL", "LOOP", "PgListener"]

CHANNEL = "textgate_due"
LOOP = "pg-listener"
# Reconnect soon after a blip, but not more than every 10 s while the server is away.
_RECONNECT = Backoff(initial=0.5, cap=10.0)


class PgListener:
    """Holds one LISTEN connection; on each notification (and on each reconnection, to
    catch up on what was committed meanwhile) calls ``on_notify``.

    A supervised loop (:mod:`textgate.loops`): connecting is one step, waiting for the
    connection to end is the next. A lost connection is a failure of the loop, so a server
    that stays away shows on ``/readyz`` while the workers fall back on polling."""

    def __init__(
        self, url: str, on_notify: Callable[[], None], loops: LoopRegistry | None = None
    ) -> None:
        self._dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._on_notify = on_notify
        self._loops = loops or LoopRegistry()
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self._lost = asyncio.Event()

    async def start(self) -> None:
        self._task = self._loops.spawn(LOOP, self._step, backoff=_RECONNECT)

    async def stop(self) -> None:
        await stop_loop(self._task)
        self._task = None
        await self._close()

    async def _step(self) -> None:
        if self._conn is None:
            await self._connect()
            return
        await self._lost.wait()
        await self._close()
        raise StorageUnavailable("LISTEN connection lost; polling until it is back")

    async def _connect(self) -> None:
        self._lost.clear()
        with map_storage_errors():
            conn = await asyncpg.connect(self._dsn, timeout=10)
            try:
                conn.add_termination_listener(lambda *_: self._lost.set())
                await conn.add_listener(CHANNEL, lambda *_: self._on_notify())
            except BaseException:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)
                raise
        self._conn = conn
        self._on_notify()  # catch up on anything committed while we were away

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
