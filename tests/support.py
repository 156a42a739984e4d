"""Test helpers shared by the suite: free ports, a real server, database URLs."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr

from textgate.app import create_app
from textgate.config import ConnectorSettings, Settings
from textgate.core.clock import Clock, system_clock
from textgate.http_server import server_config
from textgate.runtime import Gateway
from textgate.services.webhooks import TargetChecker

PG_ENV = "TEXTGATE_TEST_DATABASE_URL"

# The suite runs on a busy 2-core machine with another run of itself beside it: a request or
# a wait that takes 0.1 s on an idle machine can take many seconds there. Waits for something
# that must eventually happen get a deadline generous enough never to be the reason a test
# fails; a healthy run meets them in a small fraction of it.
HTTP_TIMEOUT = 60.0
"""Timeout of the test suite's HTTP clients."""
WAIT = 60.0
"""Deadline, in seconds, of a wait for something that should eventually happen."""
SUITE_SECRET_KEY = SecretStr("the test suite's secret key")


async def until(
    check: Callable[[], Awaitable[bool] | bool],
    what: str = "the condition",
    *,
    timeout: float = WAIT,
    interval: float = 0.02,
) -> None:
    """Poll ``check`` (plain or async) until it holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


async def server_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """Wait until ``server`` (served by ``task``) listens; raise what ended it early."""

    def started() -> bool:
        if task.done():
            task.result()
            raise AssertionError("the server stopped before it started")
        return bool(server.started)

    await until(started, "the server to start", interval=0.01)


class QuickServer(uvicorn.Server):
    """uvicorn's server, stopping without its fixed waits: its main loop looks at
    ``should_exit`` every 0.1 s and its shutdown sleeps 0.1 s before waiting for the
    connections, about 0.15 s a gateway in all, which the suite's thousand gateways paid in
    every run. :meth:`stop` wakes the loop at once; the shutdown waits for the connections
    and requests as uvicorn does (for as long as :func:`until` allows: a test's servers are
    stopped with nothing in flight), polling more often. Everything else (ticks that
    refresh the Date header, the lifespan) is uvicorn's."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self.should_exit = True
        self._stopping.set()

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        state = self.server_state
        await until(
            lambda: not (state.connections or state.tasks),
            "the server's requests to end",
            interval=0.005,
        )
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


@contextlib.asynccontextmanager
async def serving(app: Any, host: str = "127.0.0.1", **config: Any) -> AsyncIterator[str]:
    """Serve the ASGI ``app`` (no lifespan) on a free port of ``host``; yields its base URL.
    ``config``: more of uvicorn's settings."""
    # Bound here, then served: a port picked and released could be taken in between.
    listener = loopback_listener(host)
    port = int(listener.getsockname()[1])
    options: dict[str, Any] = {"log_level": "warning", "lifespan": "off", **config}
    server = QuickServer(uvicorn.Config(app, **options))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    task.add_done_callback(lambda _: listener.close())
    try:
        await server_started(server, task)
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        await task


def loopback_listener(host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket bound to a free port of ``host``, for a server to listen on. Created
    with protocol IPPROTO_TCP, not the default 0: asyncio turns Nagle's algorithm off
    (TCP_NODELAY) only on sockets that say they are TCP, and with Nagle on, every request
    after the first on a kept-alive connection waited about 40 ms for the client's delayed
    ACK (the server writes a response's head and body separately)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind((host, 0))
    return listener


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def smpp_carrier(
    port: int,
    *,
    system_id: str = "textgate",
    password: str = "textgate",  # noqa: S107 - the simulator's default login
    **options: object,
) -> ConnectorSettings:
    """An SMPP connector named ``carrier`` to an SMSC (the simulator, or a test's own peer)
    on 127.0.0.1:``port``."""
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "system_id": system_id,
        "password": password,
    }
    return ConnectorSettings(name="carrier", type="smpp", options=base | options)


def postgres_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def database_url(tmp_path: Path) -> str:
    """The database the suite runs on: PostgreSQL when configured, else a fresh SQLite file."""
    return postgres_url() or f"sqlite+aiosqlite:///{tmp_path / 'textgate.db'}"


class ShiftedClock:
    """The system clock, moved forward on demand: a test lets the gateway's time pass (an
    idle timeout, a window) without waiting for it. Only ever forward, so every timestamp the
    gateway writes still grows."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return system_clock() + self.offset_ms

    def advance(self, seconds: float) -> None:
        self.offset_ms += int(seconds * 1000)


@functools.cache
def _default_trust() -> ssl.SSLContext:
    """What a client trusts by default, made once: every test's client would otherwise read
    the certificate bundle again (25-80 ms)."""
    return httpx.create_ssl_context()


@dataclass
class Running:
    gateway: Gateway
    base_url: str
    client: httpx.AsyncClient


def cli_env(running: Running) -> dict[str, str]:
    """The environment of a command that works on ``running``'s database: the same data
    directory, database and ``secret_key`` (the database refuses another key)."""
    settings = running.gateway.settings
    assert settings.secret_key is not None
    return {
        "TEXTGATE_DATA_DIR": str(settings.data_dir),
        "TEXTGATE_DATABASE_URL": settings.database_url,
        "TEXTGATE_LOG_LEVEL": "WARNING",
        "TEXTGATE_SECRET_KEY": settings.secret_key.get_secret_value(),
    }


async def _serve(server: uvicorn.Server, listener: socket.socket) -> None:
    try:
        await server.serve(sockets=[listener])
    except SystemExit as exc:
        # uvicorn exits the process when the application does not start; raised in a task,
        # SystemExit would stop the test's event loop and break the tests after it.
        raise RuntimeError(f"the gateway did not start (exit {exc.code}): see its log") from None


@contextlib.asynccontextmanager
async def running_gateway(
    settings: Settings,
    *,
    target_checker: TargetChecker | None = None,
    clock: Clock = system_clock,
    verify: ssl.SSLContext | bool = True,
) -> AsyncIterator[Running]:
    """Start the real HTTP server (uvicorn, httptools) on a free loopback port; over TLS
    when the settings say so (``verify``: what the client trusts)."""
    # Bound before the lifespan runs: a port picked and released here could otherwise be
    # taken by the gateway's own outgoing connections (SMPP binds) before uvicorn binds it.
    listener = loopback_listener()
    port = int(listener.getsockname()[1])
    update: dict[str, object] = {"http": settings.http.model_copy(update={"port": port})}
    if settings.secret_key is None:
        # One key for the whole suite, so that its derivation (scrypt, 0.1-0.2 s) is paid
        # once per process rather than by every gateway; the key file a gateway makes
        # without one is tested through the command line.
        update["secret_key"] = SUITE_SECRET_KEY
    settings = settings.model_copy(update=update)
    gateway = Gateway(settings, target_checker=target_checker, clock=clock)
    app = create_app(settings, gateway=gateway)
    # As `textgate serve` configures uvicorn (TLS, proxies), but on the test's own loop and
    # waiting for open connections at the end as long as they take.
    config = server_config(
        settings,
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        loop="auto",
        lifespan="on",
        timeout_graceful_shutdown=None,
    )
    server = QuickServer(config)
    task = asyncio.create_task(_serve(server, listener))
    task.add_done_callback(lambda _: listener.close())  # also when the lifespan failed
    scheme = "http" if settings.http.tls_cert_file is None else "https"
    base = f"{scheme}://127.0.0.1:{port}"
    try:
        await server_started(server, task)
        trust = _default_trust() if verify is True else verify
        async with httpx.AsyncClient(base_url=base, timeout=HTTP_TIMEOUT, verify=trust) as client:
            yield Running(gateway, base, client)
    finally:
        server.stop()
        await task
