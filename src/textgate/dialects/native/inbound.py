"""Inbound messages and conversations in textgate's own API (``/v1``, Bearer API key)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query, Response

from textgate.core.clock import to_ms
from textgate.dialects.native.routes import AccountDep, ServicesDep, native_router
from textgate.dialects.native.schemas import (
    ConversationOut,
    InboundList,
    InboundOut,
    InboundPatch,
    ThreadItemOut,
    ThreadList,
    ThreadOut,
)
from textgate.errors import InvalidRequest
from textgate.services.inbound import InboundFilter

__all__ = ["router"]

router = native_router()


def _number(raw: str) -> str:
    """A number from a query or a path: E.164 as stored ('+' and digits); an unencoded
    '+' arrives as a space. Alphanumeric senders are kept as given."""
    number = raw.strip()
    return f"+{number}" if number.isdigit() else number


@router.get("/inbound", response_model=InboundList, response_model_by_alias=True)
async def list_inbound(
    account: AccountDep,
    services: ServicesDep,
    since: Annotated[datetime | None, Query()] = None,
    sender: Annotated[str | None, Query(alias="from")] = None,
    unread: Annotated[bool, Query()] = False,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> InboundList:
    """Messages handsets sent to the account's numbers, newest first."""
    if cursor is not None and len(cursor) != 26:
        raise InvalidRequest("cursor is not one this API returned")
    flt = InboundFilter(
        since_ms=None if since is None else to_ms(since),
        sender=None if sender is None else _number(sender),
        unread=unread,
        before_id=cursor,
    )
    page = await services.inbound.page(account.id, flt, limit=limit)
    return InboundList(data=[InboundOut.of(m) for m in page.items], next_cursor=page.next_cursor)


@router.get("/inbound/{inbound_id}", response_model=InboundOut, response_model_by_alias=True)
async def get_inbound(inbound_id: str, account: AccountDep, services: ServicesDep) -> InboundOut:
    return InboundOut.of(await services.inbound.get(account.id, inbound_id))


@router.patch("/inbound/{inbound_id}", response_model=InboundOut, response_model_by_alias=True)
async def update_inbound(
    inbound_id: str, body: InboundPatch, account: AccountDep, services: ServicesDep
) -> InboundOut:
    """Mark read or unread; set the sender's alias ("" clears it)."""
    alias = body.alias.strip() if body.alias is not None else None
    updated = await services.inbound.update(
        account.id,
        inbound_id,
        read=body.read,
        alias=alias or None,
        clear_alias=alias == "",
    )
    return InboundOut.of(updated)


@router.delete("/inbound/{inbound_id}", status_code=204)
async def delete_inbound(inbound_id: str, account: AccountDep, services: ServicesDep) -> Response:
    await services.inbound.delete(account.id, inbound_id)
    return Response(status_code=204)


@router.get("/conversations", response_model=ThreadList)
async def list_conversations(
    account: AccountDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> ThreadList:
    """One thread per remote number, inbound and outbound merged, the latest first."""
    threads = await services.inbound.threads(account.id, limit=limit)
    return ThreadList(data=[ThreadOut.model_validate(t) for t in threads])


@router.get("/conversations/{number}", response_model=ConversationOut)
async def get_conversation(
    number: str,
    account: AccountDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ConversationOut:
    """The messages exchanged with one number, both ways, newest first."""
    remote = _number(number)
    items = await services.inbound.thread(account.id, remote, limit=limit)
    return ConversationOut(number=remote, data=[ThreadItemOut.model_validate(i) for i in items])
