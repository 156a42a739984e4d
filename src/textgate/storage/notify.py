"""Cross-process wake-ups: PostgreSQL LISTEN/NOTIFY on the ``textgate_due`` channel.

The order writer issues ``pg_notify`` inside the transaction that stores new messages, so
the notification is delivered exactly when they become visible. SQLite deployments are a
single process and need nothing here; the in-process wake-up covers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

__all__ = ["CHANNEL", "PgListener"]

log = logging.getLogger(__name__)

CHANNEL = "textgate_due"


class PgListener:
    def __init__(self, url: str, on_notify: Callable[[], None]) -> None:
        self._dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._on_notify = on_notify
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pg-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        delay = 0.5
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=10)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda *_, ev=lost: ev.set())
                await conn.add_listener(CHANNEL, lambda *_: self._on_notify())
                delay = 0.5
                self._on_notify()  # catch up on anything committed while we were away
                await lost.wait()
            except (OSError, asyncpg.PostgresError, TimeoutError):
                log.warning("LISTEN connection lost; polling until it is back")
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
