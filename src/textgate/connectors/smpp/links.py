"""The binds of one connector: each a transceiver session kept up by its own supervisor.

A :class:`Link` tries to bind once at start, then keeps trying in the background: a failed
bind never raises, it is logged, shown in :meth:`Link.health` and retried. The pause before
the next attempt doubles from ``reconnect_initial`` up to ``reconnect_max``; after the SMSC
refused the credentials (ESME_RINVPASWD, ESME_RINVSYSID, ESME_RBINDFAIL: SMPP 3.4 5.1.3,
table 5-2) it is at least ``reconnect_auth_min`` and doubles up to ``reconnect_max`` (or
stays at ``reconnect_auth_min`` when that is larger): many carriers lock an account after a
few bad binds, and a supervisor restarting the gateway must not hammer them either.
:class:`LinkPool` holds ``binds`` links, picks the least busy bound one for each message,
tells whether any is up and reports each link's health. Receipts and inbound messages may
arrive on any bind; all share one request handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from textgate.connectors.health import LinkHealth, LinkState
from textgate.connectors.smpp.client import bind
from textgate.connectors.smpp.options import SmppOptions
from textgate.connectors.smpp.session import Handler, Session
from textgate.errors import ConnectorError

__all__ = ["Link", "LinkHealth", "LinkPool", "LinkState"]

log = logging.getLogger(__name__)

_LOST = "link lost"


def _now() -> datetime:
    return datetime.now(UTC)


class Link:
    """One bind. ``busy`` counts the messages using it (the pool's load measure)."""

    def __init__(self, label: str, options: SmppOptions, handler: Handler, pool: LinkPool) -> None:
        self.label = label
        self.busy = 0
        self._options = options
        self._handler = handler
        self._pool = pool
        self._session: Session | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._delay = 0.0
        """The last pause between attempts (0: none since the link was last bound)."""
        self._state = LinkState.DOWN
        self._since = _now()
        self._error: str | None = None
        self._retry_at: datetime | None = None

    @property
    def session(self) -> Session | None:
        """The bound session, or None while (re)binding."""
        session = self._session
        return session if session is not None and not session.closed else None

    def health(self) -> LinkHealth:
        state = self._state
        if state is LinkState.BOUND and self.session is None:
            state = LinkState.DOWN  # closed a moment ago; the supervisor has not woken yet
        return LinkHealth(self.label, state, self._since, self._error, self._retry_at)

    async def start(self) -> None:
        """Try to bind once now, then keep the link bound in the background. Never raises
        for a failed bind: the failure is logged, shown by :meth:`health` and retried."""
        self._stopping = False
        self._delay = 0.0
        delay = await self._attempt()
        if self._stopping:  # stopped while this first attempt was under way
            return
        self._supervisor = asyncio.create_task(self._supervise(delay), name=f"smpp-{self.label}")

    async def stop(self) -> None:
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        session, self._session = self._session, None
        self._enter(LinkState.DOWN)
        self._pool.changed()
        if session is not None:
            await session.unbind(timeout=self._options.unbind_timeout)

    # ------------------------------------------------------------------ state

    def _enter(self, state: LinkState, *, retry_in: float | None = None) -> None:
        # ``since`` marks the last change between bound and not bound: "down since" stays
        # put while attempts come and go.
        if (state is LinkState.BOUND) != (self._state is LinkState.BOUND):
            self._since = _now()
        self._state = state
        self._retry_at = None if retry_in is None else _now() + timedelta(seconds=retry_in)

    def _next_delay(self, *, auth: bool) -> float:
        opts = self._options
        if auth:
            floor, cap = opts.reconnect_auth_min, max(opts.reconnect_max, opts.reconnect_auth_min)
        else:
            floor, cap = opts.reconnect_initial, opts.reconnect_max
        self._delay = floor if self._delay <= 0 else min(max(self._delay * 2, floor), cap)
        return self._delay

    def _failed(self, error: str, *, auth: bool) -> float:
        """Record a failed attempt; return the pause before the next one."""
        repeated = self._state is LinkState.AUTH_REFUSED and self._error == error
        delay = self._next_delay(auth=auth)
        self._error = error
        if auth:
            self._enter(LinkState.AUTH_REFUSED, retry_in=delay)
            # ERROR once per refusal, not on every retry: it needs an operator.
            level = logging.DEBUG if repeated else logging.ERROR
            log.log(level, "smpp %s: %s; next try in %.1f s", self.label, error, delay)
        else:
            self._enter(LinkState.DOWN, retry_in=delay)
            log.warning("smpp %s: bind failed (next try in %.1f s): %s", self.label, delay, error)
        return delay

    # ------------------------------------------------------------------ binding

    async def _attempt(self) -> float | None:
        """One bind attempt: None once bound, else the pause before the next attempt."""
        if self._error is None:
            self._enter(LinkState.BINDING)
        else:  # a failed link shows why until it binds, not a flicker per attempt
            self._retry_at = None
        try:
            await self._bind()
        except ConnectorError as exc:
            # Not retryable from bind() means the SMSC refused the credentials.
            return self._failed(exc.message, auth=not exc.retryable)
        except Exception as exc:  # a bug or a malformed answer must not end the supervisor
            log.exception("smpp %s: bind attempt failed", self.label)
            return self._failed(repr(exc), auth=False)
        return None

    async def _bind(self) -> None:
        opts = self._options
        session = await bind(
            opts.host,
            opts.port,
            system_id=opts.system_id,
            password=opts.password,
            mode="transceiver",
            system_type=opts.system_type,
            window=opts.window,
            response_timeout=opts.response_timeout,
            enquire_link_interval=opts.enquire_link_interval or None,
            handler=self._handler,
            connect_timeout=opts.connect_timeout,
            tls=opts.ssl_context(),
        )
        if self._stopping:
            await session.unbind(timeout=opts.unbind_timeout)
            return
        refused = self._state is LinkState.AUTH_REFUSED
        self._session = session
        self._delay = 0.0
        self._enter(LinkState.BOUND)
        self._pool.changed()
        log.log(
            logging.WARNING if refused else logging.INFO,
            "smpp %s: bound to %s:%d%s",
            self.label,
            opts.host,
            opts.port,
            " (the credentials were refused before)" if refused else "",
        )

    async def _supervise(self, delay: float | None) -> None:
        """Wait for the session to close, then rebind with backoff."""
        while not self._stopping:
            session = self._session
            if session is not None:
                await session.wait_closed()
                if self._session is session:
                    self._session = None
                self._pool.changed()
                if self._stopping:
                    return
                self._delay = 0.0
                delay = self._next_delay(auth=False)
                self._error = _LOST
                self._enter(LinkState.DOWN, retry_in=delay)
                log.warning("smpp %s: link lost, rebinding in %.1f s", self.label, delay)
            elif delay is None:  # not bound and nothing scheduled: only while stopping
                delay = self._next_delay(auth=False)
            await asyncio.sleep(delay)
            delay = await self._attempt()


class LinkPool:
    """The connector's ``binds`` links. Without leases all of them run; with leases (see
    ``bind_leases``) only those this process holds (:meth:`hold`): the others are not its
    own, and it neither binds nor reports them."""

    def __init__(self, name: str, options: SmppOptions, handler: Handler) -> None:
        self.links = [
            Link(name if options.binds == 1 else f"{name}#{i + 1}", options, handler, self)
            for i in range(options.binds)
        ]
        self._any_bound = asyncio.Event()
        self._drain_seconds = options.response_timeout + 1.0
        self.held: frozenset[int] = frozenset(range(options.binds))
        """Indexes of the links this process runs."""
        self.retiring: frozenset[int] = frozenset()
        """Held links taking no new messages, until their own are answered (:meth:`retire`)."""
        self._starting: set[asyncio.Task[None]] = set()

    def _running(self) -> list[Link]:
        return [self.links[i] for i in sorted(self.held)]

    @property
    def bound(self) -> int:
        """How many links are bound now."""
        return sum(1 for link in self._running() if link.session is not None)

    def health(self) -> tuple[LinkHealth, ...]:
        """Each link's state, in bind order."""
        return tuple(link.health() for link in self._running())

    def changed(self) -> None:
        """A link bound or lost its session."""
        if self.bound:
            self._any_bound.set()
        else:
            self._any_bound.clear()

    async def wait_bound(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until at least one link is bound."""
        async with asyncio.timeout(timeout):
            while not self.bound:
                # A session may have closed before its supervisor noticed: re-arm the event.
                self._any_bound.clear()
                await self._any_bound.wait()

    def pick(self) -> Link | None:
        """The bound link with the fewest messages in progress (the first on a tie)."""
        up = [
            self.links[i]
            for i in sorted(self.held - self.retiring)
            if self.links[i].session is not None
        ]
        return min(up, key=lambda link: link.busy) if up else None

    async def start(self, indexes: frozenset[int] | None = None) -> None:
        """Try to bind the links (all, or those of ``indexes``) at once; those that fail
        keep trying in the background (see :class:`Link`), so this never raises for a
        refused or failed bind."""
        if indexes is not None:
            self.held = indexes
        await asyncio.gather(*(link.start() for link in self._running()))

    async def hold(self, indexes: frozenset[int], *, wait: bool = False) -> None:
        """Run exactly the links of ``indexes``: stop the others at once, start the new
        ones (in the background unless ``wait``)."""
        gone = [self.links[i] for i in sorted(self.held - indexes)]
        new = [self.links[i] for i in sorted(indexes - self.held)]
        self.held = indexes
        self.retiring &= indexes
        await asyncio.gather(*(link.stop() for link in gone))
        if wait:
            await asyncio.gather(*(link.start() for link in new))
            return
        for link in new:
            task = asyncio.create_task(link.start(), name=f"smpp-bind-{link.label}")
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    async def retire(self, indexes: frozenset[int]) -> None:
        """Stop the links of ``indexes`` gracefully: no new messages, the answers to those
        in flight awaited (within the response timeout), then unbind."""
        indexes &= self.held
        self.retiring |= indexes
        links = [self.links[i] for i in sorted(indexes)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._drain_seconds
        # ``busy`` is a plain counter kept by the connector's many paths: polled here, on a
        # rare path (processes joining), rather than threading an event through all of them.
        while any(link.busy for link in links) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await self.hold(self.held - indexes)

    async def stop(self) -> None:
        for task in list(self._starting):
            task.cancel()
        await asyncio.gather(*self._starting, return_exceptions=True)
        await asyncio.gather(*(link.stop() for link in self.links))
        self._any_bound.clear()
