"""Order history and lookups by the client's own order id, for every interface."""

from __future__ import annotations

from textgate.core.message import Status
from textgate.storage.order_history import OrderHistoryRepo, OrderSummary

__all__ = ["OrderHistory", "OrderSummary"]

MAX_PAGE_SIZE = 1000


class OrderHistory:
    def __init__(self, repo: OrderHistoryRepo) -> None:
        self._repo = repo

    async def find(self, account_id: str, ref: str) -> str | None:
        return await self._repo.find(account_id, ref) if ref else None

    async def page(
        self,
        account_id: str,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        page: int = 1,
        size: int = 10,
        newest_first: bool = True,
    ) -> tuple[int, list[OrderSummary]]:
        """(orders in all, page ``page`` of them, counted from 1)."""
        size = max(1, min(size, MAX_PAGE_SIZE))
        return await self.slice(
            account_id,
            since_ms=since_ms,
            until_ms=until_ms,
            offset=(max(1, page) - 1) * size,
            limit=size,
            newest_first=newest_first,
        )

    async def slice(
        self,
        account_id: str,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        offset: int = 0,
        limit: int = 10,
        newest_first: bool = True,
        device_id: str | None = None,
        least: tuple[frozenset[Status], frozenset[Status]] | None = None,
    ) -> tuple[int, list[OrderSummary]]:
        """(orders in all, ``limit`` of them from ``offset``): for interfaces that page by
        offset rather than by page number. ``device_id``: those that phone carries.
        ``least`` (at, behind): orders whose least advanced message is in a status of
        ``at``, none of them in one of ``behind`` (an interface's order-wide state)."""
        at, behind = least if least is not None else (None, frozenset[Status]())
        return await self._repo.page(
            account_id,
            since_ms=since_ms,
            until_ms=until_ms,
            offset=max(0, offset),
            limit=max(1, min(limit, MAX_PAGE_SIZE)),
            newest_first=newest_first,
            device_id=device_id,
            some_status=None if at is None else frozenset(s.value for s in at),
            no_status=frozenset(s.value for s in behind),
        )
