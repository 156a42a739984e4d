"""Running the HTTP application under uvicorn for ``textgate serve``.

Two things differ from ``uvicorn.run``:

- Logs: uvicorn gets no logging set-up of its own, so its records reach the handler that
  ``observability.logs`` installed, in the one format chosen (``log_format``).
- Writes: a response's head and body leave in one write (one TCP segment for a small
  response) instead of two; see :class:`CoalescingProtocol`.
- Stopping: on SIGTERM or SIGINT uvicorn stops accepting connections and waits for open
  ones to end. A phone's event stream never ends by itself, so the gateway is told first
  (:meth:`Gateway.begin_shutdown`) and ends such streams; the wait is then for ordinary
  requests only. A graceful stop exits with status 0: uvicorn re-raises the signal it
  caught once it has stopped, which would otherwise kill the process with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from textgate.config import Settings

__all__ = ["STARTUP_FAILURE", "CoalescingProtocol", "serve_http", "server_config"]

STARTUP_FAILURE = 3
"""Exit status when the application did not start (as uvicorn's own runner)."""
GRACEFUL_SECONDS = 30
"""The longest wait for requests in progress when stopping (event streams are ended)."""
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class CoalescedWrites:
    """A transport whose writes within one turn of the event loop go out as one.

    uvicorn writes a response's status line and headers, then its body, each with its own
    ``transport.write``; uvloop sends each at once, so a small response costs two ``send``
    calls and two TCP segments, and the client two reads. Profiles of the single-recipient
    submit put a sixth of the event loop's time in those writes (bench/RESULTS.md, "textgate
    vs Kannel on a quiet machine", Kept). Writes are held until the end of the current turn
    of the loop, then sent joined: the response leaves once it is complete, a streamed one
    (a phone's event stream) one turn after each chunk. Everything else is the transport's.
    """

    __slots__ = ("_inner", "_loop", "_parts")

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._loop = loop
        self._parts: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._parts:
            self._loop.call_soon(self.flush)
        self._parts.append(bytes(data))

    def writelines(self, lines: Iterable[bytes | bytearray | memoryview]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        parts, self._parts = self._parts, []
        # Bytes written after the connection closed go nowhere, as the transport's own would.
        if parts and not self._inner.is_closing():
            self._inner.write(parts[0] if len(parts) == 1 else b"".join(parts))

    def close(self) -> None:
        self.flush()
        self._inner.close()

    def write_eof(self) -> None:
        self.flush()
        self._inner.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CoalescingProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through :class:`CoalescedWrites`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Request cycles take the protocol's transport when a request's headers arrive.
        self.transport = CoalescedWrites(  # type: ignore[assignment]
            transport, asyncio.get_running_loop()
        )


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._on_shutdown()
        await super().shutdown(sockets)


def server_config(settings: Settings, app: ASGIApp, **overrides: Any) -> uvicorn.Config:
    """uvicorn's configuration from the ``http`` settings (the test harness serves with it
    too, so that TLS and proxy handling are tested as served)."""
    http = settings.http
    trusted = [str(net) for net in http.trusted_proxies]
    options: dict[str, Any] = {
        "host": http.host,
        "port": http.port,
        "log_level": settings.log_level.lower(),
        "log_config": None,
        # One line per request costs more than the submit itself on the hot path.
        "access_log": False,
        "loop": "uvloop",
        "http": CoalescingProtocol,
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
        "timeout_keep_alive": http.keep_alive_seconds,
        # uvicorn believes X-Forwarded-* from 127.0.0.1 unless told otherwise; textgate
        # believes them only from the proxies the operator names.
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
    }
    if http.tls_cert_file is not None and http.tls_key_file is not None:
        options["ssl_certfile"] = str(http.tls_cert_file)
        options["ssl_keyfile"] = str(http.tls_key_file)
    options.update(overrides)
    return uvicorn.Config(app, **options)


def serve_http(settings: Settings, app: ASGIApp, on_shutdown: Callable[[], None]) -> None:
    """Serve ``app`` until SIGTERM or SIGINT; ``on_shutdown`` runs as the server stops
    taking connections, before it waits for those still open."""
    server = _Server(server_config(settings, app), on_shutdown)
    with _signals_already_handled():
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


@contextlib.contextmanager
def _signals_already_handled() -> Iterator[None]:
    """While uvicorn runs, the stop signals' handlers are its own; when it has stopped it
    restores these and raises the signal again: here, that does nothing more."""

    def handled(_signum: int, _frame: FrameType | None) -> None:
        return None

    previous = {sig: signal.signal(sig, handled) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
