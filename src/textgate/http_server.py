"""Running the HTTP application under uvicorn for ``textgate serve``.

Two things differ from ``uvicorn.run``:

- Logs: uvicorn gets no logging set-up of its own, so its records reach the handler that
  ``observability.logs`` installed, in the one format chosen (``log_format``).
- Stopping: on SIGTERM or SIGINT uvicorn stops accepting connections and waits for open
  ones to end. A phone's event stream never ends by itself, so the gateway is told first
  (:meth:`Gateway.begin_shutdown`) and ends such streams; the wait is then for ordinary
  requests only. A graceful stop exits with status 0: uvicorn re-raises the signal it
  caught once it has stopped, which would otherwise kill the process with it.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from textgate.config import Settings

__all__ = ["STARTUP_FAILURE", "serve_http", "server_config"]

STARTUP_FAILURE = 3
"""Exit status when the application did not start (as uvicorn's own runner)."""
GRACEFUL_SECONDS = 30
"""The longest wait for requests in progress when stopping (event streams are ended)."""
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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
        "http": "httptools",
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
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
