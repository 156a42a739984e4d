"""Received SMS taken by polling a provider's inbox, for HTTP APIs that push none.

:class:`InboxConnector` is a queryable upstream connector with one more loop: every
``poll_seconds`` it asks the provider for the SMS not yet marked read, hands the new ones
to the inbound sink (which stores before it returns), and only then marks each one read at
the provider. The provider's read flag is the durable record of what was taken: after a
restart the inbox lists only what was never stored. A mark that fails is tried again at
the next poll, and until it succeeds the message is not handed over twice by this process.

Where several processes run the connector (PostgreSQL), one lease (the SMPP binds'
ledger, one "bind") makes a single process poll; another takes over when its lease runs
out. Only a crash between storing and marking, or a takeover in that moment, can store one
message twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Final, Protocol

import httpx

from textgate.connectors.base import InboundSink, ReportSink
from textgate.connectors.smpp.bind_leases import BindLeases
from textgate.connectors.smpp.shared_rate import RateBudget
from textgate.connectors.upstream.connector import UNAUTHORIZED, QueryableUpstreamConnector
from textgate.connectors.upstream.options import UpstreamOptions
from textgate.connectors.upstream.provider import Provider
from textgate.connectors.upstream.replies import Throttle, common_reply
from textgate.core.inbound import InboundMessage
from textgate.errors import ConnectorError
from textgate.loops import LoopRegistry, stop_loop

__all__ = ["InboxConnector", "InboxProvider"]

log = logging.getLogger(__name__)

MAX_UNMARKED: Final = 10_000
"""Stored messages whose read mark has not gone through, remembered so as not to store them
again; past this many (the mark keeps failing) the oldest are forgotten."""


class InboxProvider(Provider, Protocol):
    def inbox_request(self, client: httpx.AsyncClient) -> httpx.Request:
        """The request listing received SMS not marked read."""
        ...

    def read_inbox(self, connector: str, response: httpx.Response) -> list[InboundMessage]:
        """Its messages, oldest first, each with the provider's id (raises ConnectorError
        for an answer that lists none)."""
        ...

    def set_read_request(self, client: httpx.AsyncClient, guid: str) -> httpx.Request:
        """The request marking one received SMS read."""
        ...


class InboxConnector(QueryableUpstreamConnector):
    def __init__(
        self,
        name: str,
        options: UpstreamOptions,
        provider: InboxProvider,
        *,
        token: str,
        poll_seconds: float | None,
        loops: LoopRegistry | None = None,
        leases: BindLeases | None = None,
        budget: RateBudget | None = None,
    ) -> None:
        super().__init__(name, options, provider, token=token, budget=budget)
        self.inbox: InboxProvider = provider
        self._poll_seconds = poll_seconds
        self._loops = loops or LoopRegistry()
        self._leases = leases
        self._sink: InboundSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._unmarked: dict[str, None] = {}
        """Ids stored, not yet marked read at the provider (in the order taken)."""

    async def start(self, sink: ReportSink, inbound: InboundSink | None = None) -> None:
        await super().start(sink, inbound)
        if inbound is not None and self._poll_seconds is not None:
            self._sink = inbound
            self._task = self._loops.spawn(f"inbox-{self.name}", self._poll_once)

    async def stop(self) -> None:
        await stop_loop(self._task)
        self._task = None
        if self._leases is not None:
            with contextlib.suppress(Exception):  # a lease not given back runs out
                await self._leases.leave()
        await super().stop()

    async def _poll_once(self) -> None:
        assert self._poll_seconds is not None
        if await self._ours():
            await self.take_inbox()
        await asyncio.sleep(self._poll_seconds)

    async def _ours(self) -> bool:
        if self._leases is None:  # one process owns every link (SQLite)
            return True
        assert self._poll_seconds is not None
        ttl_ms = int((3 * self._poll_seconds + 5) * 1000)
        held, _ = await self._leases.hold(1, ttl_ms)
        return 0 in held

    async def take_inbox(self) -> int:
        """One poll: store what is new, mark it read; returns how many were stored."""
        client = self._client
        sink = self._sink
        if client is None or sink is None or self._paused_until > time.monotonic():
            return 0
        async with self._slots:
            await self._rate.take()
            try:
                session = await self._login(client)
                response = await client.send(self.inbox.inbox_request(client))
            except ConnectorError as exc:
                log.info("connector %s: inbox not read: %s", self.name, exc.message)
                return 0
            except httpx.HTTPError as exc:
                error = self._unanswered(exc)
                log.info("connector %s: inbox not read: %s", self.name, error.message)
                return 0
        if response.status_code == UNAUTHORIZED:
            self._forget(session)
            return 0
        reply = common_reply(response)
        if isinstance(reply, Throttle):
            self._pause(reply)
            return 0
        try:
            found = self.inbox.read_inbox(self.name, response)
        except ConnectorError as exc:
            log.warning("connector %s: inbox not read: %s", self.name, exc.message)
            return 0
        new = [
            m for m in found if m.external_id is not None and m.external_id not in self._unmarked
        ]
        if new:
            await sink(new)  # stored when it returns; a failure is the loop's to retry
            for message in new:
                assert message.external_id is not None
                self._unmarked[message.external_id] = None
            while len(self._unmarked) > MAX_UNMARKED:
                del self._unmarked[next(iter(self._unmarked))]
        await self._mark_read(client)
        return len(new)

    async def _mark_read(self, client: httpx.AsyncClient) -> None:
        for guid in list(self._unmarked):
            try:
                async with self._slots:
                    await self._rate.take()
                    response = await client.send(self.inbox.set_read_request(client, guid))
            except (ConnectorError, httpx.HTTPError) as exc:
                log.info("connector %s: %s not marked read: %r", self.name, guid, exc)
                return
            if not response.is_success:
                log.info(
                    "connector %s: %s not marked read (HTTP %d)",
                    self.name,
                    guid,
                    response.status_code,
                )
                return
            self._unmarked.pop(guid, None)
