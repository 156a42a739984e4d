"""Reading messages and cancelling them, for every interface."""

from __future__ import annotations

from textgate.core.message import Message
from textgate.storage.messages import MessageFilter, MessageRepo

__all__ = ["MessageFilter", "MessageService"]

MAX_PAGE = 1000


class MessageService:
    def __init__(self, repo: MessageRepo) -> None:
        self._repo = repo

    async def get(self, account_id: str, message_id: str) -> Message:
        return await self._repo.get(account_id, message_id)

    async def search(
        self, account_id: str, flt: MessageFilter, *, limit: int = 100
    ) -> list[Message]:
        return await self._repo.search(account_id, flt, limit=max(1, min(limit, MAX_PAGE)))

    async def order(self, account_id: str, order_id: str) -> list[Message]:
        return await self._repo.order_messages(account_id, order_id)

    async def cancel_message(self, account_id: str, message_id: str) -> list[str]:
        return await self._repo.cancel(account_id, message_id=message_id)

    async def cancel_order(self, account_id: str, order_id: str) -> list[str]:
        return await self._repo.cancel(account_id, order_id=order_id)
