"""Reading messages and cancelling them, for every interface."""

from __future__ import annotations

from textgate.core.message import Message
from textgate.core.paging import Page, page_size
from textgate.storage.messages import MessageFilter, MessageRepo

__all__ = ["MAX_PAGE", "MessageFilter", "MessageService"]

MAX_PAGE = 1000


class MessageService:
    def __init__(self, repo: MessageRepo) -> None:
        self._repo = repo

    async def get(self, account_id: str, message_id: str) -> Message:
        return await self._repo.get(account_id, message_id)

    async def search(
        self, account_id: str, flt: MessageFilter, *, limit: int = 100
    ) -> list[Message]:
        return await self._repo.search(account_id, flt, limit=page_size(limit, MAX_PAGE))

    async def page(self, account_id: str, flt: MessageFilter, *, limit: int = 100) -> Page[Message]:
        """Up to ``limit`` messages (at most ``MAX_PAGE``), newest first, and the cursor
        (``flt.before_id``) of the next page."""
        size = page_size(limit, MAX_PAGE)
        rows = await self._repo.search(account_id, flt, limit=size + 1)
        return Page.cut(rows, size, lambda m: m.id)

    async def order(self, account_id: str, order_id: str) -> list[Message]:
        return await self._repo.order_messages(account_id, order_id)

    async def cancel_message(self, account_id: str, message_id: str) -> list[str]:
        return await self._repo.cancel(account_id, message_id=message_id)

    async def cancel_order(self, account_id: str, order_id: str) -> list[str]:
        return await self._repo.cancel(account_id, order_id=order_id)
