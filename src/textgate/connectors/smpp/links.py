"""The binds of one connector: each a transceiver session kept up by its own supervisor.

A :class:`Link` binds, waits for its session to close, and binds again with exponential
backoff (``reconnect_initial`` doubling up to ``reconnect_max``). :class:`LinkPool` holds
``binds`` links, picks the least busy bound one for each message, and tells whether any is
up. Receipts and inbound messages may arrive on any bind; all share one request handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from textgate.connectors.smpp.client import bind
from textgate.connectors.smpp.options import SmppOptions
from textgate.connectors.smpp.session import Handler, Session
from textgate.errors import ConnectorError

__all__ = ["Link", "LinkPool"]

log = logging.getLogger(__name__)


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

    @property
    def session(self) -> Session | None:
        """The bound session, or None while (re)binding."""
        session = self._session
        return session if session is not None and not session.closed else None

    async def start(self) -> None:
        """Bind once now, then keep the link bound in the background. A refusal of the
        credentials (not retryable) is raised; any other failure is retried."""
        self._stopping = False
        try:
            await self._bind()
        except ConnectorError as exc:
            if not exc.retryable:
                raise
            log.warning("smpp %s: bind failed, will retry: %s", self.label, exc.message)
        self._supervisor = asyncio.create_task(self._supervise(), name=f"smpp-{self.label}")

    async def stop(self) -> None:
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        session, self._session = self._session, None
        self._pool.changed()
        if session is not None:
            await session.unbind(timeout=self._options.unbind_timeout)

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
        )
        if self._stopping:
            await session.unbind(timeout=opts.unbind_timeout)
            return
        self._session = session
        self._pool.changed()
        log.info("smpp %s: bound to %s:%d", self.label, opts.host, opts.port)

    async def _supervise(self) -> None:
        """Wait for the session to close, then rebind with backoff."""
        opts = self._options
        delay = opts.reconnect_initial
        while not self._stopping:
            session = self._session
            if session is not None:
                await session.wait_closed()
                if self._session is session:
                    self._session = None
                self._pool.changed()
                log.warning("smpp %s: link lost, rebinding", self.label)
                delay = opts.reconnect_initial
            await asyncio.sleep(delay)
            try:
                await self._bind()
            except ConnectorError as exc:
                delay = min(delay * 2, opts.reconnect_max)
                log.warning(
                    "smpp %s: rebind failed (next try in %.1f s): %s",
                    self.label,
                    delay,
                    exc.message,
                )


class LinkPool:
    def __init__(self, name: str, options: SmppOptions, handler: Handler) -> None:
        self.links = [
            Link(name if options.binds == 1 else f"{name}#{i + 1}", options, handler, self)
            for i in range(options.binds)
        ]
        self._any_bound = asyncio.Event()

    @property
    def bound(self) -> int:
        """How many links are bound now."""
        return sum(1 for link in self.links if link.session is not None)

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
        up = [link for link in self.links if link.session is not None]
        return min(up, key=lambda link: link.busy) if up else None

    async def start(self) -> None:
        """Bind all links at once; if one is refused for good, stop them all and raise."""
        results = await asyncio.gather(
            *(link.start() for link in self.links), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self.stop()
            raise errors[0]

    async def stop(self) -> None:
        await asyncio.gather(*(link.stop() for link in self.links))
        self._any_bound.clear()
