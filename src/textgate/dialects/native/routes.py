"""textgate's own REST API, ``/v1`` (Bearer API key)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import ValidationError

from textgate.core.accounts import Account
from textgate.core.clock import from_ms, to_ms
from textgate.core.encoding import Encoding
from textgate.core.message import Status
from textgate.core.pricing import format_amount
from textgate.dialects.base import (
    bearer_token,
    client_ip,
    error_route_class,
    input_error,
    lookup_services,
    read_body,
    services_of,
)
from textgate.dialects.native.errors import render_error
from textgate.dialects.native.schemas import (
    AccountOut,
    CancelOut,
    ErrorBody,
    MessageDetail,
    MessageList,
    MessageOut,
    OptOutList,
    OptOutOut,
    OptOutsIn,
    SendIn,
    SendOut,
    UsageOut,
    send_out_json,
)
from textgate.errors import AuthenticationFailed, InvalidRequest, NotFound
from textgate.services.query import MessageFilter
from textgate.services.registry import Services
from textgate.services.submit_request import Notify, SubmitRequest

__all__ = [
    "INTERFACE",
    "AccountDep",
    "ServicesDep",
    "native_errors",
    "native_router",
    "router",
]

INTERFACE = "native"
"""How stored messages and metrics name this API."""


def native_errors() -> dict[int | str, dict[str, object]]:
    """The error answers every native route documents (OpenAPI)."""
    return {code: {"model": ErrorBody} for code in (400, 401, 402, 403, 404, 409, 413, 503)}


def native_router(prefix: str = "/v1") -> APIRouter:
    """A router of the native API: its tag, its error format, its documented errors."""
    return APIRouter(
        prefix=prefix,
        tags=["native"],
        route_class=error_route_class(render_error),
        responses=native_errors(),
    )


router = native_router()

ServicesDep = Annotated[Services, Depends(services_of)]


async def current_account(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Account:
    token = bearer_token(authorization)
    if token is None:
        raise AuthenticationFailed("send an API key as 'Authorization: Bearer <key>'")
    return await lookup_services(request).accounts.authenticate(token)


AccountDep = Annotated[Account, Depends(current_account)]


# The submit endpoint is the hot path: it reads its body and headers itself (FastAPI's
# per-parameter dependency solving cost more than the whole submit) and declares the same
# request shape to OpenAPI by hand.
_SEND_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": SendIn.model_json_schema()}},
    },
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 255},
            "description": "The same key within 24 h returns the original order",
        }
    ],
}


MAX_BODY_BYTES = 4 * 1024 * 1024
"""Largest submit body: ample for the largest batch (account rules cap recipients)."""


@router.post("/messages", status_code=202, response_model=SendOut, openapi_extra=_SEND_DOC)
async def send_messages(request: Request) -> Response:
    services = lookup_services(request)
    account = await current_account(request, request.headers.get("authorization"))
    try:
        body = SendIn.model_validate_json(await read_body(request, MAX_BODY_BYTES))
    except ValidationError as exc:
        raise input_error(exc) from exc
    idempotency_key = request.headers.get("idempotency-key")
    result = await services.submit.submit(
        SubmitRequest(
            account=account,
            recipients=body.recipients(),
            text=body.text,
            sender=body.sender,
            schedule_at=body.schedule_at,
            valid_until=body.valid_until,
            client_ref=body.reference,
            idempotency_key=idempotency_key,
            interface=INTERFACE,
            encoding=Encoding(body.encoding) if body.encoding else None,
            client_ip=client_ip(request),
            notify=() if body.callback_url is None else (Notify(body.callback_url),),
        )
    )
    return Response(
        send_out_json(result.order_id, result.accepted, result.messages),
        status_code=202,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"} if result.replayed else None,
    )


@router.get("/messages/{message_id}", response_model=MessageDetail)
async def get_message(message_id: str, account: AccountDep, services: ServicesDep) -> MessageDetail:
    return MessageDetail.of_detail(await services.messages.get(account.id, message_id))


@router.get("/messages", response_model=MessageList)
async def list_messages(
    account: AccountDep,
    services: ServicesDep,
    status: Annotated[Status | None, Query()] = None,
    to: Annotated[str | None, Query()] = None,
    order: Annotated[str | None, Query()] = None,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> MessageList:
    if cursor is not None and len(cursor) != 26:
        raise InvalidRequest("cursor is not one this API returned")
    flt = MessageFilter(
        status=status,
        recipient=to,
        order_id=order,
        since_ms=None if since is None else to_ms(since),
        until_ms=None if until is None else to_ms(until),
        before_id=cursor,
    )
    page = await services.messages.page(account.id, flt, limit=limit)
    return MessageList(data=[MessageOut.of(m) for m in page.items], next_cursor=page.next_cursor)


@router.delete("/messages/{message_id}", response_model=CancelOut)
async def cancel_message(message_id: str, account: AccountDep, services: ServicesDep) -> CancelOut:
    return CancelOut(cancelled=await services.messages.cancel_message(account.id, message_id))


@router.delete("/orders/{order_id}", response_model=CancelOut)
async def cancel_order(order_id: str, account: AccountDep, services: ServicesDep) -> CancelOut:
    return CancelOut(cancelled=await services.messages.cancel_order(account.id, order_id))


@router.get("/orders/{order_id}", response_model=MessageList)
async def get_order(order_id: str, account: AccountDep, services: ServicesDep) -> MessageList:
    msgs = await services.messages.order(account.id, order_id)
    if not msgs:
        raise NotFound(f"no order {order_id}")
    return MessageList(data=[MessageOut.of(m) for m in msgs], next_cursor=None)


@router.get("/account", response_model=AccountOut)
async def get_account(account: AccountDep, services: ServicesDep) -> AccountOut:
    summary = await services.accounts.summary(account)
    rules = account.rules
    return AccountOut(
        id=account.id,
        name=account.name,
        created_at=account.created_at,
        default_country=account.default_country,
        balance=format_amount(summary.balance),
        usage_today=UsageOut(
            day=summary.day,
            count=summary.used_today,
            daily_limit=rules.daily_limit,
            remaining=max(0, rules.daily_limit - summary.used_today),
        ),
        batch_limit=rules.batch_limit,
        settings=rules.to_public(),
    )


@router.get("/opt-outs", response_model=OptOutList)
async def list_opt_outs(account: AccountDep, services: ServicesDep) -> OptOutList:
    rows = await services.accounts.opt_outs(account.id)
    return OptOutList(
        data=[OptOutOut(number=n, source=s, created_at=from_ms(at)) for n, s, at in rows]
    )


@router.post("/opt-outs", response_model=OptOutList, status_code=201)
async def add_opt_outs(body: OptOutsIn, account: AccountDep, services: ServicesDep) -> OptOutList:
    await services.accounts.add_opt_outs(account, body.numbers, source="api")
    return await list_opt_outs(account, services)


@router.delete("/opt-outs/{number}", response_model=OptOutList)
async def remove_opt_out(number: str, account: AccountDep, services: ServicesDep) -> OptOutList:
    await services.accounts.remove_opt_outs(account, [number])
    return await list_opt_outs(account, services)
