"""Reading messages, cancelling and replacing them, for every interface."""

from __future__ import annotations

from datetime import datetime

from textgate.core.accounts import Account
from textgate.core.clock import Clock, from_ms, system_clock, to_ms
from textgate.core.encoding import Encoding, segment
from textgate.core.message import Message, ReceiptRequest
from textgate.core.paging import Page, page_size
from textgate.errors import Conflict
from textgate.services.submit_request import check_no_nul, check_validity
from textgate.storage.messages import MessageFilter, MessageRepo

__all__ = ["MAX_PAGE", "MessageFilter", "MessageService"]

MAX_PAGE = 1000


class MessageService:
    def __init__(self, repo: MessageRepo, clock: Clock = system_clock) -> None:
        self._repo = repo
        self._clock = clock

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

    async def phones(self, account_id: str, message_ids: list[str]) -> dict[str, str]:
        """The phone that carries (or carried) each message, where a phone does."""
        return await self._repo.phones(account_id, message_ids)

    async def cancel_message(self, account_id: str, message_id: str) -> list[str]:
        return await self._repo.cancel(account_id, message_id=message_id)

    async def cancel_order(self, account_id: str, order_id: str) -> list[str]:
        return await self._repo.cancel(account_id, order_id=order_id)

    async def replace_message(
        self,
        account: Account,
        message_id: str,
        *,
        text: str | None,
        schedule_at: datetime | None,
        valid_until: datetime | None,
        receipt: ReceiptRequest | None,
    ) -> None:
        """A new text, schedule or validity (None: keep the message's own) and receipt
        request for a message not handed off yet (SMPP replace_sm). The new text is read in
        the message's encoding and must take as many parts as it did: the message was
        charged for those (Conflict otherwise, as for a message that has left). A validity
        that ends before the message may be sent is ``INVALID_VALIDITY``; a new text the
        account's duplicate filter would refuse in a submit is PolicyDenied (``duplicate``)."""
        message = await self._repo.get(account.id, message_id, with_events=False)
        if text is not None:
            check_no_nul(text)  # as in a submit: no interface lets one in
            parts = segment(text, Encoding(message.encoding)).count
            if parts != message.segments:
                raise Conflict(
                    f"the new text takes {parts} parts; the message was charged for"
                    f" {message.segments}"
                )
        scheduled = message.scheduled_at if schedule_at is None else schedule_at
        until = message.valid_until if valid_until is None else valid_until
        now = self._clock()
        check_validity(until, scheduled, now)
        rules = account.rules
        dedupe_since = now - rules.dedupe_window_seconds * 1000 if rules.dedupe else None
        await self._repo.replace(
            account.id,
            message_id,
            text=message.text if text is None else text,
            scheduled_at=None if scheduled is None else to_ms(scheduled),
            valid_until=None if until is None else to_ms(until),
            receipt=None if receipt is None else receipt.value,
            dedupe_since=dedupe_since,
        )

    async def release(self, account: Account, message_id: str) -> None:
        """Make a message that waits for its schedule due now (by this service's clock)."""
        await self.replace_message(
            account,
            message_id,
            text=None,
            schedule_at=from_ms(self._clock()),
            valid_until=None,
            receipt=None,
        )
