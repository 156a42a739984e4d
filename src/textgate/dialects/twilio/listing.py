"""An account's Messages as Twilio lists them: the messages it sent and those it received,
in one list, newest first ("Message resource", "Read multiple Message resources": the list
holds both directions, told apart by ``direction``).

Sent and received messages are kept apart (the outbox and the inbox), both with ULIDs for
ids: time-ordered, so a page of the list is the newest ``size`` of the two read side by
side, and the next page starts below the last id of this one in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textgate.dialects.twilio.resource import id_of_sid, inbound_resource, message_resource
from textgate.errors import NotFound
from textgate.services.inbound import InboundFilter
from textgate.services.query import MessageFilter
from textgate.services.registry import Services

__all__ = ["Listing", "MessagesPage", "any_message", "messages_page"]


@dataclass(frozen=True, slots=True)
class Listing:
    """The list's filters, as Twilio names them (``To``, ``From``, ``DateSent``)."""

    to: str | None = None
    sender: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    before_id: str | None = None


@dataclass(frozen=True, slots=True)
class MessagesPage:
    items: list[dict[str, Any]]
    last_id: str | None
    """The id the next page starts below; None on the last page."""


async def messages_page(
    services: Services, account_id: str, listing: Listing, size: int
) -> MessagesPage:
    sent = await services.messages.page(
        account_id,
        MessageFilter(
            recipient=listing.to,
            sender=listing.sender,
            since_ms=listing.since_ms,
            until_ms=listing.until_ms,
            before_id=listing.before_id,
        ),
        limit=size,
    )
    received = await services.inbound.page(
        account_id,
        InboundFilter(
            recipient=listing.to,
            sender=listing.sender,
            since_ms=listing.since_ms,
            until_ms=listing.until_ms,
            before_id=listing.before_id,
        ),
        limit=size,
    )
    # Each side gave all it has below the cursor, or its newest ``size`` and a cursor: in
    # both cases the newest ``size`` of the two together are the page.
    merged = sorted(
        [(m.id, message_resource(m)) for m in sent.items]
        + [(m.id, inbound_resource(m, account_id)) for m in received.items],
        key=lambda pair: pair[0],
        reverse=True,
    )
    page = merged[:size]
    more = len(merged) > size or sent.next_cursor is not None or received.next_cursor is not None
    return MessagesPage([item for _, item in page], page[-1][0] if more and page else None)


async def any_message(services: Services, account_id: str, sid: str) -> dict[str, Any]:
    """The resource of the account's message with this SID, sent or received."""
    message_id = id_of_sid("SM", sid)
    if message_id is not None:
        try:
            return message_resource(await services.messages.get(account_id, message_id))
        except NotFound:
            pass
        try:
            received = await services.inbound.get(account_id, message_id)
            return inbound_resource(received, account_id)
        except NotFound:
            pass
    raise NotFound(f"No Message with the SID {sid} was found")
