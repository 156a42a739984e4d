"""Builds the gateway's parts from settings and runs them: shared by ``serve`` and ``worker``."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from textgate.config import ConnectorSettings, Settings
from textgate.connectors.android import DeviceOutbox, WakeHub
from textgate.connectors.base import Connector
from textgate.connectors.callbacks import CallbackConnector
from textgate.connectors.kinds import ConnectorContext, build, takes_callbacks
from textgate.connectors.unstarted import UnstartedConnector
from textgate.core.clock import Clock, system_clock
from textgate.core.inbound import Keywords
from textgate.dialects.registry import address_handlers, enabled, webhook_formats
from textgate.dispatch.standby import StandbyQueue
from textgate.dispatch.worker import Dispatcher, LinkPolicy
from textgate.loops import LoopRegistry
from textgate.notify.sender import MailDispatcher
from textgate.notify.sinks import build_sink
from textgate.observability.counts import OperationCounts
from textgate.runtime.services import Shared, build_services
from textgate.services.inbound import InboundReceiver, InboundRouter
from textgate.services.receive import ReportReceiver
from textgate.services.routing import ConnectorHealth
from textgate.services.smpp_binds import BindSnapshot
from textgate.services.webhooks import TargetChecker
from textgate.smpp_server import SmppServer
from textgate.smtp.server import SmtpServer
from textgate.startup import check_settings, connector_options, prepare_database, secret_key
from textgate.storage.accounts import AccountRepo
from textgate.storage.db import Database
from textgate.storage.inbound import InboundRepo
from textgate.storage.link_leases import LinkLeases
from textgate.storage.link_rates import LinkRates
from textgate.storage.mail import MailRepo
from textgate.storage.messages import MessageRepo
from textgate.storage.migrate import shipped_migrations
from textgate.storage.notify import PgListener
from textgate.storage.orders import OrderWriter
from textgate.storage.reseal import reseal
from textgate.storage.secrets import SecretBox
from textgate.storage.webhook_feed import WebhookFeed
from textgate.storage.webhooks import WebhookRepo
from textgate.webhooks.sender import WebhookDispatcher

__all__ = ["Gateway", "build_connector"]

log = logging.getLogger(__name__)


def build_connector(
    cfg: ConnectorSettings,
    *,
    outbox: DeviceOutbox | None = None,
    hub: WakeHub | None = None,
    loops: LoopRegistry | None = None,
    db: Database | None = None,
    owner: str = "",
    secret_key: str = "",
) -> Connector:
    """The connector ``cfg`` names, built by its type (``connectors.kinds``). ``db`` and
    ``owner`` (this process's worker id): on PostgreSQL, where several processes may run
    the same connector, an SMPP connector's ``binds`` and ``max_rate`` are shared by all of
    them through the database. ``secret_key`` derives callback tokens."""
    shared = db is not None and not db.is_sqlite
    context = ConnectorContext(
        loops=loops,
        outbox=outbox,
        hub=hub,
        leases=(lambda name: LinkLeases(db).owned_by(name, owner)) if shared and db else None,
        rates=LinkRates(db) if shared and db else None,
        secret_key=secret_key,
    )
    return build(cfg.type, cfg.name, connector_options(cfg), context)


class Gateway:
    """Everything one process runs: storage, services, and optionally the dispatcher."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        target_checker: TargetChecker | None = None,
    ) -> None:
        self.settings = settings
        if settings.is_sqlite:
            Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        self.db = Database(
            settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        self.worker_id = settings.dispatch.worker_id or f"{socket.gethostname()}:{os.getpid()}"
        # Health of this process's background loops, for /readyz and /metrics.
        self.loops = LoopRegistry()
        # What this process counts for /metrics: submits, link results, phones' reports.
        self.counts = OperationCounts()
        self.queue = StandbyQueue(self.db, self.worker_id)
        self.dispatcher: Dispatcher | None = None
        self.receiver: ReportReceiver | None = None
        self.connectors: dict[str, Connector] = {}
        # Connectors whose providers push reports and inbound messages (callbacks route).
        self.callbacks: dict[str, CallbackConnector] = {}
        self.writer = OrderWriter(self.db, on_commit=self._wake, loops=self.loops)
        accounts = AccountRepo(self.db, clock)
        messages = MessageRepo(self.db, clock)
        self.inbound_repo = InboundRepo(self.db, clock)
        self._accounts = accounts
        self._secret_key = secret_key(settings)
        box = SecretBox(self._secret_key)
        self._box = box
        self.webhook_repo = WebhookRepo(self.db, box, clock)
        self.webhooks: WebhookDispatcher | None = None
        self.mail_repo = MailRepo(self.db, clock)
        self.mail: MailDispatcher | None = None
        self.target_checker = target_checker or TargetChecker(settings.webhooks)
        self.inbound: InboundReceiver | None = None
        # Every dialect's payload formats, enabled or not: stored subscriptions keep theirs.
        self.webhook_formats = webhook_formats()
        # Phones: the device API and the android connector share the hub that wakes them.
        self.device_hub = WakeHub()
        self.services, self.device_outbox = build_services(
            settings,
            Shared(
                db=self.db,
                clock=clock,
                box=box,
                writer=self.writer,
                accounts=accounts,
                messages=messages,
                inbound=self.inbound_repo,
                webhooks=self.webhook_repo,
                mail=self.mail_repo,
                target_checker=self.target_checker,
                webhook_formats=self.webhook_formats,
                counts=self.counts,
                device_hub=self.device_hub,
            ),
            connectors=lambda: self.connectors,
            bind_snapshot=self._smpp_binds,
        )
        # The CLI and tests reach logins through the gateway too.
        self.credentials = self.services.credentials
        self._clock = clock
        self._listener: PgListener | None = None
        self.smtp: SmtpServer | None = None
        self.smpp: SmppServer | None = None

    def _smpp_binds(self) -> BindSnapshot | None:
        return None if self.smpp is None else self.smpp.bind_snapshot()

    def dispatch_counters(self) -> dict[str, tuple[str, float]]:
        """This process's dispatch counters, for /metrics (none without a dispatcher)."""
        if self.dispatcher is None:
            return {}
        stats = self.dispatcher.stats
        return {
            "textgate_dispatch_in_doubt": (
                "Messages written to a link that never answered (DESIGN: in doubt).",
                stats.in_doubt,
            ),
            "textgate_dispatch_late_answers": (
                "Answers after the response timeout, recorded as sent (nothing resent).",
                stats.late_answers,
            ),
            "textgate_dispatch_late_duplicates": (
                "Answers after the message was already sent again: duplicates at the operator.",
                stats.late_too_late,
            ),
            "textgate_dispatch_waits": (
                "Hand-offs that found no usable link (no attempt used).",
                stats.waits,
            ),
            "textgate_dispatch_failovers": (
                "Messages moved at once to the next connector of their route (not sent or"
                " refused by the one before).",
                stats.failovers,
            ),
        }

    def _wake(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

    async def start(
        self,
        *,
        dispatch: bool,
        migrate: bool | None = None,
        smtp: bool = False,
        smpp: bool = False,
    ) -> None:
        """``smtp``, ``smpp``: also run the email-to-SMS server, the SMPP server, if
        configured (the front-door processes do; workers and CLI commands do not).

        Refuses (:class:`ConfigError`) settings that cannot run and a ``secret_key`` other
        than the one the database was first used with, before starting anything. A start
        that fails stops what it had started and closes the database."""
        try:
            await self._start(dispatch=dispatch, migrate=migrate, smtp=smtp, smpp=smpp)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, *, dispatch: bool, migrate: bool | None, smtp: bool, smpp: bool) -> None:
        check_settings(self.settings)
        await prepare_database(
            self.db,
            self.settings,
            self._secret_key,
            migrate=migrate if migrate is not None else self.db.is_sqlite,
        )
        # Secrets stored in clear or under the old key derivation are sealed anew, once the
        # schema is the one this code knows (a process may start, unready, on a database
        # that still waits for `textgate migrate`: /readyz says so).
        if not (await shipped_migrations().state(self.db)).behind:
            await reseal(self.db, self._box)
            digested = await self.services.originators.digest_stored()
            if digested:
                log.info("replaced %d authorised originator addresses by digests", digested)
        await self.writer.start()
        if smtp and self.settings.smtp.enabled:
            handlers = address_handlers(enabled(self.settings.dialects), self.settings)
            self.smtp = SmtpServer(
                self.settings.smtp, self.services, Path(self.settings.data_dir), handlers
            )
            await self.smtp.start()
        if smpp and self.settings.smpp_server.enabled:
            self.smpp = SmppServer(
                self.settings.smpp_server, self.services, self._clock, loops=self.loops
            )
            await self.smpp.start()
        self.receiver = ReportReceiver(self.queue, self._clock)
        self.inbound = InboundReceiver(
            self.inbound_repo,
            InboundRouter(self.settings.inbound.numbers, self._accounts),
            reassembly_timeout_seconds=self.settings.inbound.reassembly_timeout_seconds,
            keywords=Keywords.of(
                self.settings.inbound.opt_out_keywords, self.settings.inbound.opt_in_keywords
            ),
            clock=self._clock,
            loops=self.loops,
        )
        built = {
            c.name: build_connector(
                c,
                outbox=self.device_outbox,
                hub=self.device_hub,
                loops=self.loops,
                db=self.db,
                owner=self.worker_id,
                secret_key=self._secret_key,
            )
            for c in self.settings.connectors
            # Providers call back whichever process serves HTTP: reading a callback needs
            # the connector's object, not its links, so a process without a dispatcher
            # builds (and never starts) those whose providers call back.
            if dispatch or takes_callbacks(c.type)
        }
        self.callbacks = {n: c for n, c in built.items() if isinstance(c, CallbackConnector)}
        if not dispatch:
            return
        self.connectors = built
        self.inbound.start()
        for name, connector in list(self.connectors.items()):
            try:
                await connector.start(self.receiver, self.inbound)
            except Exception as exc:
                # One connector must not stop the gateway (a restart loop could lock a
                # carrier account): it stays down and refuses its messages as not sent.
                log.exception("connector %s failed to start; running without it", name)
                self.connectors[name] = UnstartedConnector(connector, str(exc) or repr(exc))
        self.dispatcher = await self._dispatcher()
        await self.dispatcher.start()
        if self.settings.webhooks.enabled:
            self.webhooks = WebhookDispatcher(
                self.webhook_repo,
                WebhookFeed(
                    self.db,
                    mail_sender=self.settings.mail.from_address,
                    formats=self.webhook_formats,
                ),
                self.settings.webhooks,
                self.target_checker,
                clock=self._clock,
                loops=self.loops,
                formats=self.webhook_formats,
            )
            await self.webhooks.start()
        if self.settings.mail.enabled:
            self.mail = MailDispatcher(
                self.mail_repo,
                build_sink(self.settings.mail, Path(self.settings.data_dir)),
                self.settings.mail,
                self._clock,
                self.loops,
            )
            await self.mail.start()
        if not self.db.is_sqlite:
            self._listener = PgListener(self.db.url, self._wake, self.loops)
            await self._listener.start()

    async def _dispatcher(self) -> Dispatcher:
        """The dispatcher, routing with the table in force (stored, else the config file's)."""
        routing = self.services.routing
        if (await shipped_migrations().state(self.db)).behind:
            # No stored table can be read yet (/readyz says why): the config file's, until
            # the reload finds one.
            table = routing.configured_table()
        else:
            table = await routing.table()
        dispatcher = Dispatcher(
            self.queue,
            self.connectors,
            default_connector=self.settings.primary_connector,
            routing=table,
            table_source=routing.table,
            reload_seconds=self.settings.routing.reload_seconds,
            failover=self.settings.routing.failover,
            policies={
                c.name: LinkPolicy(
                    in_doubt=c.in_doubt,
                    in_doubt_grace_ms=int(c.in_doubt_grace_seconds * 1000),
                    receipt_window_ms=int(c.receipt_window_seconds * 1000),
                )
                for c in self.settings.connectors
            },
            settings=self.settings.dispatch,
            clock=self._clock,
            loops=self.loops,
            counts=self.counts,
        )
        self.queue.watch(self.connectors, dispatcher.routed)
        routing.subscribe(dispatcher.use_table)
        routing.health = lambda: {
            name: ConnectorHealth(name, s.usability.value, s.handoffs, s.failed)
            for name, s in dispatcher.link_status().items()
        }
        return dispatcher

    def begin_shutdown(self) -> None:
        """The server has stopped taking connections: end the requests that would hold
        theirs open for good (phones' event streams), so that the drain that follows waits
        only for requests that end by themselves. The phones reconnect and pull elsewhere
        or after the restart; nothing is lost."""
        self.device_hub.shut()

    async def stop(self) -> None:
        """Stop taking work, drain what is in flight, close links and the database."""
        if self.smtp is not None:
            await self.smtp.stop()
        if self.smpp is not None:
            # Before the writer: incomplete long messages are stored as the binds end.
            await self.smpp.stop()
        await self.writer.stop()
        if self._listener is not None:
            await self._listener.stop()
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self.webhooks is not None:
            await self.webhooks.stop()
        if self.mail is not None:
            await self.mail.stop()
        for connector in self.connectors.values():
            await connector.stop()
        if self.receiver is not None:
            await self.receiver.close()
        if self.inbound is not None:
            await self.inbound.close()
        await self.db.dispose()
