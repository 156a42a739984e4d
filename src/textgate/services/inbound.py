"""Inbound messages: the sink connectors hand them to, and reading them for every interface.

A connector calls :class:`InboundReceiver` and acknowledges to its operator only once the
call returned, so everything acknowledged is stored (parts of concatenated messages
included; DESIGN section 3). Ownership comes from ``inbound.numbers`` in the settings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence

from textgate.core.clock import Clock, system_clock
from textgate.core.conversations import Thread, ThreadItem
from textgate.core.inbound import Inbound, InboundMessage, Keywords
from textgate.core.paging import Page, page_size
from textgate.errors import NotFound
from textgate.loops import LoopRegistry, stop_loop
from textgate.storage.accounts import AccountRepo
from textgate.storage.conversations import ConversationRepo
from textgate.storage.inbound import InboundFilter, InboundRepo, Route

__all__ = ["MAX_PAGE", "InboundFilter", "InboundReceiver", "InboundRouter", "InboundService"]

log = logging.getLogger(__name__)

MAX_PAGE = 1000


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


class InboundRouter:
    """Recipient number -> owning account id, by longest configured prefix.

    Account names are resolved to ids in the event loop and the result is a plain function
    over a snapshot: storage calls it inside its transaction (on SQLite, in the loop's
    thread or, when another process holds the write lock, in the writer thread).
    Names that do not exist (yet) are looked up again after ``refresh_seconds``.
    """

    def __init__(
        self,
        numbers: Mapping[str, str],
        accounts: AccountRepo,
        *,
        refresh_seconds: float = 30.0,
    ) -> None:
        self._prefixes = {_digits(k): v for k, v in numbers.items() if _digits(k)}
        self._accounts = accounts
        self._refresh = refresh_seconds
        self._ids: dict[str, str] = {}
        self._resolved_at = float("-inf")

    async def snapshot(self) -> Route:
        names = set(self._prefixes.values())
        stale = time.monotonic() - self._resolved_at > self._refresh
        if stale and not names <= self._ids.keys():
            for name in names - self._ids.keys():
                try:
                    self._ids[name] = (await self._accounts.by_name(name)).id
                except NotFound:
                    log.warning("inbound.numbers names account %r, which does not exist", name)
            self._resolved_at = time.monotonic()
        owners = {p: self._ids[n] for p, n in self._prefixes.items() if n in self._ids}
        longest = max((len(p) for p in owners), default=0)

        def route(recipient: str) -> str | None:
            digits = _digits(recipient)
            for size in range(min(len(digits), longest), 0, -1):
                owner = owners.get(digits[:size])
                if owner is not None:
                    return owner
            return None

        return route


class InboundReceiver:
    """The inbound sink: stores before it returns; completes stale part groups in the
    background (:meth:`start`)."""

    def __init__(
        self,
        repo: InboundRepo,
        router: InboundRouter,
        *,
        reassembly_timeout_seconds: float = 3600.0,
        keywords: Keywords | None = None,
        clock: Clock = system_clock,
        loops: LoopRegistry | None = None,
    ) -> None:
        self._repo = repo
        self._router = router
        self._loops = loops or LoopRegistry()
        self._keywords = keywords or Keywords()
        self._timeout_ms = int(reassembly_timeout_seconds * 1000)
        self._clock = clock
        self._sweeper: asyncio.Task[None] | None = None

    async def __call__(self, items: Sequence[InboundMessage]) -> None:
        if items:
            await self._repo.store(items, await self._router.snapshot(), self._keywords)

    async def flush_stale(self) -> list[str]:
        """Store part groups older than the reassembly timeout as incomplete messages."""
        route = await self._router.snapshot()
        return await self._repo.flush_stale(self._clock() - self._timeout_ms, route, self._keywords)

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = self._loops.spawn("inbound-sweeper", self._sweep_once)

    async def _sweep_once(self) -> None:
        await asyncio.sleep(min(60.0, max(0.05, self._timeout_ms / 4000)))
        stored = await self.flush_stale()
        if stored:
            log.warning("stored %d incomplete inbound message(s) after timeout", len(stored))

    async def close(self) -> None:
        await stop_loop(self._sweeper)
        self._sweeper = None


class InboundService:
    """Inbound messages and conversations, for every interface."""

    def __init__(
        self,
        repo: InboundRepo,
        conversations: ConversationRepo,
        keywords: Keywords | None = None,
    ) -> None:
        self._repo = repo
        self._conversations = conversations
        self._keywords = keywords or Keywords()

    async def get(self, account_id: str, inbound_id: str) -> Inbound:
        return await self._repo.get(account_id, inbound_id)

    async def search(
        self, account_id: str, flt: InboundFilter, *, limit: int = 100
    ) -> list[Inbound]:
        return await self._repo.search(account_id, flt, limit=page_size(limit, MAX_PAGE))

    def keyword_action(self, text: str) -> str | None:
        """ "out" for an opt-out keyword, "in" for an opt-in one, None for anything else
        (the keywords that act on the account's opt-out list)."""
        return self._keywords.action(text)

    async def page(self, account_id: str, flt: InboundFilter, *, limit: int = 100) -> Page[Inbound]:
        """Up to ``limit`` messages (at most ``MAX_PAGE``), newest first, and the cursor
        (``flt.before_id``) of the next page."""
        size = page_size(limit, MAX_PAGE)
        rows = await self._repo.search(account_id, flt, limit=size + 1)
        return Page.cut(rows, size, lambda m: m.id)

    async def update(
        self,
        account_id: str,
        inbound_id: str,
        *,
        read: bool | None = None,
        alias: str | None = None,
        clear_alias: bool = False,
    ) -> Inbound:
        return await self._repo.update(
            account_id, inbound_id, read=read, alias=alias, clear_alias=clear_alias
        )

    async def delete(self, account_id: str, inbound_id: str) -> None:
        await self._repo.delete(account_id, inbound_id)

    async def threads(self, account_id: str, *, limit: int = 50) -> list[Thread]:
        return await self._conversations.threads(account_id, limit=page_size(limit, MAX_PAGE))

    async def thread(self, account_id: str, number: str, *, limit: int = 100) -> list[ThreadItem]:
        return await self._conversations.thread(
            account_id, number, limit=page_size(limit, MAX_PAGE)
        )
