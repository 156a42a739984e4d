"""The SMPP server, on the gateway's event loop: one engine Session per TCP connection.

Started and stopped by ``runtime.Gateway`` when ``smpp_server.enabled``, with the loop that
sends receipts and inbound messages to the receiver binds (``deliveries``). Stopping stops
that loop (an unanswered deliver_sm is sent again after its lease), stops listening,
unbinds every session (SMPP 3.4 4.2: the SMSC may end a bind with unbind), closes whatever
does not answer in time, and waits for each connection's incomplete messages to be stored:
no task of the server is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import Counter

from textgate.config import SmppServerSettings
from textgate.connectors.smpp.pdus import BindReceiver, BindTransceiver, BindTransmitter
from textgate.connectors.smpp.session import Session
from textgate.core.clock import Clock, from_ms, system_clock
from textgate.loops import LoopRegistry
from textgate.services.registry import Services
from textgate.services.smpp_binds import BindSnapshot, OpenBind
from textgate.smpp_server.connection import Connection
from textgate.smpp_server.deliveries import DeliverSender

__all__ = ["SmppServer"]

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_SECONDS = 5.0
_SESSION_NAME = "smpp-server<-"
# SMPP 3.4 4.1: the three binds, by the name the bind snapshot gives each.
_BIND_KINDS = {
    BindTransmitter: "transmitter",
    BindReceiver: "receiver",
    BindTransceiver: "transceiver",
}


class SmppServer:
    def __init__(
        self,
        settings: SmppServerSettings,
        services: Services,
        clock: Clock = system_clock,
        *,
        loops: LoopRegistry | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._services = services
        self._server: asyncio.Server | None = None
        self._sessions: dict[Session, Connection] = {}
        self._clients: set[asyncio.Task[None]] = set()
        # Open binds per account id, in this process: each serving process has its own
        # count, so a cluster of N front doors allows N times the limit.
        self._binds: Counter[str] = Counter()
        # submit_sm and data_sm accepted per account name since the server started.
        self._submitted: Counter[str] = Counter()
        self._deliver = DeliverSender(
            services.smpp_deliveries, settings.deliver, self.receivers, clock=clock, loops=loops
        )

    @property
    def port(self) -> int:
        """The port listened on (useful when configured as 0: any free port)."""
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    def binds(self, account_id: str) -> int:
        """The account's open binds."""
        return self._binds[account_id]

    @property
    def connections(self) -> int:
        return len(self._sessions)

    def receivers(self) -> dict[str, list[Session]]:
        """The open binds that may be sent deliver_sm (receiver, transceiver), by account."""
        found: dict[str, list[Session]] = {}
        for session, connection in self._sessions.items():
            account = connection.account
            if (
                account is not None
                and connection.receives
                and not session.closed
                and not connection.revoked.is_set()  # being unbound: its login is gone
            ):
                found.setdefault(account.id, []).append(session)
        return found

    def bind_snapshot(self) -> BindSnapshot:
        """The open binds as they are now, and each account's submits since the server
        started (for the connectors page and /metrics; changes nothing)."""
        now = self._clock()
        binds = []
        for session, connection in self._sessions.items():
            account, kind = connection.account, connection.bind_type
            if account is None or kind is None or connection.bound_at is None or session.closed:
                continue
            binds.append(
                OpenBind(
                    account_id=account.id,
                    account=account.name,
                    kind=_BIND_KINDS[kind],
                    client=session.name.removeprefix(_SESSION_NAME),
                    bound_at=from_ms(connection.bound_at),
                    window=self._settings.window,
                    requests_in=connection.requests,
                    requests_out=session.outstanding,
                    submits=connection.submits,
                    recent_submits=connection.recent_submits.count(now),
                )
            )
        return BindSnapshot(tuple(binds), tuple(sorted(self._submitted.items())))

    # BindLimit, for the connections.

    def take(self, account_id: str) -> bool:
        if self._binds[account_id] >= self._settings.max_binds_per_account:
            return False
        self._binds[account_id] += 1
        return True

    def give_back(self, account_id: str) -> None:
        self._binds[account_id] -= 1
        if self._binds[account_id] <= 0:
            del self._binds[account_id]

    async def start(self) -> None:
        cfg = self._settings
        tls = _tls_context(cfg)
        self._server = await asyncio.start_server(
            self._on_client,
            cfg.host,
            cfg.port,
            ssl=tls,
            # A client that does not finish its handshake is dropped as one that does not
            # bind is (asyncio's default would hold it for a minute).
            ssl_handshake_timeout=cfg.bind_timeout_seconds if tls is not None else None,
        )
        log.info("SMPP server listening on %s:%d%s", cfg.host, self.port, " (TLS)" if tls else "")
        self._deliver.start()

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        # First, so that nothing is claimed for binds about to go; a deliver_sm left
        # unanswered is sent again once its lease has run out.
        await self._deliver.stop()
        timeout = self._settings.response_timeout_seconds
        await asyncio.gather(
            *(s.unbind(timeout=min(timeout, CLOSE_TIMEOUT_SECONDS)) for s in self._sessions),
            return_exceptions=True,
        )
        if self._clients:
            await asyncio.gather(*self._clients, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), CLOSE_TIMEOUT_SECONDS)

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            await self._serve(reader, writer)
        except Exception:
            log.exception("smpp server: a connection failed")
        finally:
            self._clients.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cfg = self._settings
        peer = writer.get_extra_info("peername")
        client_ip = str(peer[0]) if isinstance(peer, tuple) and peer else None
        connection = Connection(
            self._services,
            self,
            client_ip,
            max_parts=cfg.reassembly_max_parts,
            reassembly_timeout=cfg.reassembly_timeout_seconds,
            clock=self._clock,
            submitted=self._submitted,
            recheck_seconds=cfg.login_recheck_seconds,
        )
        session = Session(
            reader,
            writer,
            handler=connection.handle,
            window=cfg.window,
            inbound_window=cfg.window,
            response_timeout=cfg.response_timeout_seconds,
            enquire_link_interval=cfg.enquire_link_seconds,
            name=f"{_SESSION_NAME}{client_ip}:{peer[1] if isinstance(peer, tuple) else '?'}",
        )
        self._sessions[session] = connection
        try:
            if not await _bound_in_time(connection, session, cfg.bind_timeout_seconds):
                log.info("smpp server: %s did not bind in time; closing", session.name)
                await session.close()
            elif await _revoked(connection, session, cfg.login_recheck_seconds):
                # SMPP 3.4 4.2: the SMSC may end a bind with unbind.
                await session.unbind(
                    timeout=min(cfg.response_timeout_seconds, CLOSE_TIMEOUT_SECONDS)
                )
            await session.wait_closed()
        finally:
            del self._sessions[session]
            await connection.close()


def _tls_context(cfg: SmppServerSettings) -> ssl.SSLContext | None:
    """The server side of TLS when a certificate is configured (checked as a pair by the
    settings); a certificate or key that does not load fails the start."""
    if cfg.tls_cert_file is None or cfg.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cfg.tls_cert_file, cfg.tls_key_file)
    return context


async def _bound_in_time(connection: Connection, session: Session, timeout: float) -> bool:  # noqa: ASYNC109
    """Whether the connection bound (or closed by itself) within ``timeout``."""
    bound = asyncio.ensure_future(connection.bound.wait())
    closed = asyncio.ensure_future(session.wait_closed())
    try:
        done, _ = await asyncio.wait(
            {bound, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        bound.cancel()
        closed.cancel()
        await asyncio.gather(bound, closed, return_exceptions=True)
    return bool(done)


async def _revoked(connection: Connection, session: Session, interval: float) -> bool:
    """Wait until the session closes (False) or its login no longer stands (True), reading
    the login again every ``interval`` seconds: an idle bind (a receiver) is not rechecked
    by any request of its own."""
    closed = asyncio.ensure_future(session.wait_closed())
    revoked = asyncio.ensure_future(connection.revoked.wait())
    try:
        while True:
            await asyncio.wait(
                {closed, revoked}, timeout=interval, return_when=asyncio.FIRST_COMPLETED
            )
            if closed.done():
                return False
            if revoked.done() or await connection.recheck() is None:
                return True
    finally:
        closed.cancel()
        revoked.cancel()
        await asyncio.gather(closed, revoked, return_exceptions=True)
