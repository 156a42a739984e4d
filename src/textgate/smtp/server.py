"""The SMTP server, run on the gateway's own event loop.

aiosmtpd's ``Controller`` runs a second loop in a thread; the interfaces need the gateway's
services on its loop, so the server is created the way the controller does it internally:
``loop.create_server`` with a factory of :class:`aiosmtpd.smtp.SMTP` protocols.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import weakref
from collections.abc import Iterable
from pathlib import Path

from aiosmtpd.smtp import SMTP

from textgate.config import SmtpSettings
from textgate.dialects.mail import AddressHandler
from textgate.services.registry import Services
from textgate.smtp.handler import EmailHandler
from textgate.smtp.tls import dev_certificate, server_context

__all__ = ["SmtpServer"]

log = logging.getLogger(__name__)

IDENT = "textgate ESMTP"
AIOSMTPD_LOGGER = "mail.log"
CLOSE_TIMEOUT_SECONDS = 5.0


class _OwnDeprecations(logging.Filter):
    """aiosmtpd 1.4 warns that ``Session.login_data`` is deprecated on every successful
    AUTH, from its own code (it sets the attribute itself): a warning per login that says
    nothing to the operator."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


class SmtpServer:
    """Serves the addresses of ``handlers`` (those of the enabled email dialects); mail to
    any other address is refused."""

    def __init__(
        self,
        settings: SmtpSettings,
        services: Services,
        data_dir: Path,
        handlers: Iterable[AddressHandler],
    ) -> None:
        self._settings = settings
        self._handler = EmailHandler(services, settings, handlers)
        self._data_dir = data_dir
        self._server: asyncio.Server | None = None
        self._connections: weakref.WeakSet[SMTP] = weakref.WeakSet()

    @property
    def port(self) -> int:
        """The port listened on (useful when configured as 0: any free port)."""
        assert self._server is not None, "not started"
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1])

    def _tls(self) -> ssl.SSLContext | None:
        cfg = self._settings
        if not cfg.starttls:
            if cfg.auth_required:
                raise ValueError("smtp.auth_required needs smtp.starttls: passwords need TLS")
            return None
        if cfg.tls_cert is not None and cfg.tls_key is not None:
            return server_context(cfg.tls_cert, cfg.tls_key)
        if cfg.tls_cert is not None or cfg.tls_key is not None:
            raise ValueError("smtp.tls_cert and smtp.tls_key are set together")
        cert, key = dev_certificate(self._data_dir / "smtp", cfg.hostname)
        log.warning("SMTP STARTTLS uses a self-signed development certificate (%s)", cert)
        return server_context(cert, key)

    def _protocol(self, tls: ssl.SSLContext | None) -> SMTP:
        cfg = self._settings
        protocol = SMTP(
            self._handler,
            data_size_limit=cfg.max_message_bytes,
            hostname=cfg.hostname,
            ident=IDENT,
            tls_context=tls,
            timeout=cfg.timeout_seconds,
            auth_required=cfg.auth_required,
            auth_require_tls=True,
            # Bounds what one connection may try (AUTH guesses, RCPT floods) before it is
            # dropped; generous for real senders.
            command_call_limit={"AUTH": 5, "RCPT": cfg.max_recipients + 20, "*": 200},
            loop=asyncio.get_running_loop(),
        )
        self._connections.add(protocol)
        return protocol

    async def start(self) -> None:
        # aiosmtpd logs every command at INFO, envelope senders included; those can be
        # credentials (an authorised originator address names an account), so its logger
        # stays at WARNING unless the operator chose a level for it.
        smtp_log = logging.getLogger(AIOSMTPD_LOGGER)
        if smtp_log.level == logging.NOTSET:
            smtp_log.setLevel(logging.WARNING)
        if not any(isinstance(f, _OwnDeprecations) for f in smtp_log.filters):
            smtp_log.addFilter(_OwnDeprecations())
        tls = await asyncio.to_thread(self._tls)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: self._protocol(tls), host=self._settings.host, port=self._settings.port
        )
        log.info("SMTP server listening on %s:%d", self._settings.host, self.port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for protocol in list(self._connections):
            if protocol.transport is not None:
                protocol.transport.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT_SECONDS)
        self._server = None
