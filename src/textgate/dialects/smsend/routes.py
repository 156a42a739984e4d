"""The smsend / Skebby / Esendex-IT "SMS REST API v1.0" at ``/API/v1.0/REST/`` (seed 001;
shared/specs/dialects.md, section "smsend / Skebby").

Clients log in with a username and password (``GET login`` for a session that expires after
some idle minutes, ``GET token`` for an access token valid until revoked) and then send the
``user_key`` header with ``Session_key`` or ``Access_token``. Every path answers with and
without a trailing slash and after a doubled slash (the seed's Java example requests
``.../REST//login``), without redirects.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError

from textgate.core.accounts import Account
from textgate.core.clock import to_ms
from textgate.core.encoding import Encoding
from textgate.core.message import Quality, Status
from textgate.core.pricing import MICRO
from textgate.dialects.base import (
    add_routes,
    basic_credentials,
    client_ip,
    error_route_class,
    lookup_services,
    read_json,
    validation_message,
)
from textgate.dialects.ids import parse_id
from textgate.dialects.smsend.errors import render_error
from textgate.dialects.smsend.schemas import (
    ALIAS_BY_QUALITY,
    TYPE_BY_QUALITY,
    HistoryLine,
    HistoryOut,
    MoHistoryOut,
    MoLine,
    OrderStateOut,
    RecipientState,
    SendSmsIn,
    SendSmsOut,
    SmsAllowance,
    StatusOut,
    format_time,
    parse_time,
    zone,
)
from textgate.dialects.smsend.status import provider_status
from textgate.errors import AuthenticationFailed, InvalidRequest, NotFound
from textgate.services.allowance import AllowanceService
from textgate.services.credentials import CredentialService, GrantKind
from textgate.services.history import OrderHistory
from textgate.services.inbound import InboundFilter
from textgate.services.submit_request import SubmitRequest

__all__ = ["PREFIX", "router"]

PREFIX = "/API/v1.0/REST"
INTERFACE = "smsend"
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_PAGE_SIZE = 1000

router = APIRouter(prefix=PREFIX, tags=["smsend"], route_class=error_route_class(render_error))

Endpoint = Callable[..., Coroutine[Any, Any, Response]]


def _at(name: str, methods: list[str], **options: Any) -> Callable[[Endpoint], Endpoint]:
    """Register an endpoint at ``name``, ``name/``, ``/name`` and ``/name/`` under the prefix."""

    def register(endpoint: Endpoint) -> Endpoint:
        paths = (f"/{name}", f"/{name}/", f"//{name}", f"//{name}/")
        add_routes(router, endpoint, paths, methods, **options)
        return endpoint

    return register


def _credentials(request: Request) -> CredentialService:
    return lookup_services(request).credentials


def _history(request: Request) -> OrderHistory:
    return lookup_services(request).history


def _allowance(request: Request) -> AllowanceService:
    return lookup_services(request).allowance


def _header(request: Request, *names: str) -> str | None:
    # Clients send user_key / Session_key / Access_token; a proxy that rewrites underscores
    # turns them into dashes, which cost nothing to accept as well.
    for name in names:
        value = request.headers.get(name)
        if value:
            return value.strip()
    return None


async def current_account(request: Request) -> Account:
    user_key = _header(request, "user_key", "user-key") or ""
    credentials = _credentials(request)
    session = _header(request, "session_key", "session-key")
    if session:
        return await credentials.authenticate(user_key, session, GrantKind.SESSION)
    token = _header(request, "access_token", "access-token")
    if token:
        return await credentials.authenticate(user_key, token, GrantKind.TOKEN)
    raise AuthenticationFailed("send the user_key header with Session_key or Access_token")


def _login_pair(request: Request) -> tuple[str, str]:
    query = request.query_params
    if "username" in query or "password" in query:
        return query.get("username", ""), query.get("password", "")
    pair = basic_credentials(request.headers.get("authorization"))
    if pair is not None:
        return pair
    raise AuthenticationFailed("send username and password as query parameters or HTTP Basic")


async def _grant(request: Request, kind: GrantKind) -> Response:
    username, password = _login_pair(request)
    grant = await _credentials(request).login(
        username, password, kind, client_ip=client_ip(request)
    )
    return PlainTextResponse(f"{grant.user_key};{grant.secret}")


@_at("login", ["GET", "POST"], response_class=PlainTextResponse)
async def login(request: Request) -> Response:
    """``user_key;session_key``; the session expires after some idle minutes."""
    return await _grant(request, GrantKind.SESSION)


@_at("token", ["GET", "POST"], response_class=PlainTextResponse)
async def token(request: Request) -> Response:
    """``user_key;access_token``; the token is valid until revoked."""
    return await _grant(request, GrantKind.TOKEN)


@_at("sms", ["POST"], status_code=201, response_model=SendSmsOut)
async def send_sms(request: Request) -> Response:
    account = await current_account(request)
    # Parsed by content, whatever the Content-Type says: the seed's Perl example sends
    # "Content_type", i.e. none at all.
    raw = await read_json(request, MAX_BODY_BYTES)
    if not isinstance(raw, dict):
        raise InvalidRequest("the body is not a JSON object")
    try:
        body = SendSmsIn.model_validate(raw)
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc)) from exc
    tz = zone(body.scheduled_delivery_timezone, account.rules.timezone)
    when = body.scheduled_delivery_time
    encoding = body.gsm_or_ucs2()
    ref = body.client_order_id()
    services = lookup_services(request)
    result = await services.submit.submit(
        SubmitRequest(
            account=account,
            recipients=body.recipient,
            text=body.message,
            sender=body.sender or None,
            schedule_at=None if when is None or when == "" else parse_time(when, tz),
            client_ref=ref,
            # The client's own order id makes a retried request return the first order.
            idempotency_key=None if ref is None else f"{INTERFACE}:{ref}",
            interface=INTERFACE,
            encoding=None
            if encoding is None
            else Encoding.UCS2
            if encoding == "ucs2"
            else Encoding.GSM7,
            client_ip=client_ip(request),
            quality=body.quality(),
            invalid_number_fails_request=not body.allowInvalidRecipients,
        )
    )
    accepted = [m for m in result.messages if m.status != Status.REJECTED]
    allowance = await _allowance(request).of(account)
    out = SendSmsOut(
        order_id=ref or result.order_id,
        # returnCredits: count the credits (SMS parts) used instead of the messages.
        total_sent=sum(m.segments for m in accepted) if body.returnCredits else len(accepted),
        remaining_credits=allowance.balance // MICRO,
        internal_order_id=result.order_id,
        remaining_messages=allowance.messages if body.returnRemaining else None,
    )
    return JSONResponse(out.model_dump(exclude_none=True), status_code=201)


async def _order_id(request: Request, account: Account, order_id: str) -> str:
    internal = await _history(request).find(account.id, order_id)
    if internal is None:
        raise NotFound(f"no order {order_id}")
    return internal


@_at("sms/{order_id}", ["GET"], response_model=OrderStateOut)
async def order_state(request: Request, order_id: str) -> Response:
    account = await current_account(request)
    internal = await _order_id(request, account, order_id)
    msgs = await lookup_services(request).messages.order(account.id, internal)
    if not msgs:
        raise NotFound(f"no order {order_id}")
    tz = zone(None, account.rules.timezone)
    out = OrderStateOut(
        order_id=msgs[0].client_ref or internal,
        internal_order_id=internal,
        recipient_number=len(msgs),
        recipients=[
            RecipientState(
                destination=m.recipient,
                status=provider_status(m),
                delivery_date=format_time(m.updated_at, tz)
                if m.status == Status.DELIVERED
                else None,
                message_type=None if m.quality is None else TYPE_BY_QUALITY[Quality(m.quality)],
                quality=m.quality,
                sender=m.sender,
                error_code=m.error_code,
            )
            for m in msgs
        ],
    )
    return JSONResponse(out.model_dump())


@_at("sms/{order_id}", ["DELETE"])
async def cancel_order(request: Request, order_id: str) -> Response:
    """Cancel what of a scheduled order has not left yet (404 if nothing can be)."""
    account = await current_account(request)
    internal = await _order_id(request, account, order_id)
    await lookup_services(request).messages.cancel_order(account.id, internal)
    return JSONResponse({"result": "OK"})


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


@_at("status", ["GET"], response_model=StatusOut)
async def user_status(request: Request) -> Response:
    """Credits (one-part messages left per message type) and, with getMoney, the balance."""
    account = await current_account(request)
    allowance = await _allowance(request).of(account)
    names = ALIAS_BY_QUALITY if _flag(request.query_params.get("typeAliases")) else TYPE_BY_QUALITY
    out = StatusOut(
        money=allowance.balance / MICRO if _flag(request.query_params.get("getMoney")) else None,
        sms=[SmsAllowance(type=names[q], quantity=allowance.messages) for q in Quality],
    )
    return JSONResponse(out.model_dump())


def _positive(value: str | None, default: int, name: str, limit: int | None = None) -> int:
    if value is None or value == "":
        return default
    number = parse_id(value)
    if number is None:
        raise InvalidRequest(f"{name} is a positive whole number")
    return min(number, limit) if limit is not None else number


@_at("smshistory", ["GET"], response_model=HistoryOut)
async def sms_history(request: Request) -> Response:
    """Orders, newest first unless ``dir=asc``, paged with ``pageNumber`` and ``pageSize``."""
    account = await current_account(request)
    query = request.query_params
    tz = zone(query.get("timezone"), account.rules.timezone)
    since = query.get("from")
    if not since:
        raise InvalidRequest("from is required (yyyyMMddHHmmss)")
    until = query.get("to")
    page = _positive(query.get("pageNumber"), 1, "pageNumber")
    size = _positive(query.get("pageSize"), 10, "pageSize", MAX_PAGE_SIZE)
    direction = (query.get("dir") or "desc").lower()
    if direction not in ("asc", "desc"):
        raise InvalidRequest("dir is 'asc' or 'desc'")
    total, orders = await _history(request).page(
        account.id,
        since_ms=to_ms(parse_time(since, tz)),
        until_ms=to_ms(parse_time(until, tz)) if until else None,
        page=page,
        size=size,
        newest_first=direction == "desc",
    )
    out = HistoryOut(
        total=total,
        pageNumber=page,
        pageSize=size,
        smshistory=[
            HistoryLine(
                order_id=o.client_ref or o.id,
                internal_order_id=o.id,
                create_time=format_time(o.created_at, tz) or "",
                schedule_time=format_time(o.scheduled_at, tz),
                message_type=None if o.quality is None else TYPE_BY_QUALITY[Quality(o.quality)],
                sender=o.sender,
                num_recipients=o.recipients,
            )
            for o in orders
        ],
    )
    return JSONResponse(out.model_dump())


# GET mosmshistory (smsend's REST API, "Get the MO received messages"): "a list (limited to
# max. 100 entries) of MO messages received for the given type", STOP, CONTACT or OTHER.
# textgate's STOP are the account's opt-out keywords; it has no contact requests, so CONTACT
# is always empty, and OTHER is every other received message.
MO_TYPES = ("STOP", "CONTACT", "OTHER")
MO_LIMIT = 100


@_at("mosmshistory", ["GET"], response_model=MoHistoryOut)
async def mo_history(request: Request) -> Response:
    """Received messages of one ``type``, newest first, paged like ``smshistory``."""
    account = await current_account(request)
    query = request.query_params
    kind = (query.get("type") or "").upper()
    if kind not in MO_TYPES:
        raise InvalidRequest("type is required: STOP, CONTACT or OTHER")
    tz = zone(query.get("timezone"), account.rules.timezone)
    since, until = query.get("from"), query.get("to")
    page = _positive(query.get("pageNumber"), 1, "pageNumber")
    size = _positive(query.get("pageSize"), 10, "pageSize", MO_LIMIT)
    inbound = lookup_services(request).inbound
    flt = InboundFilter(since_ms=to_ms(parse_time(since, tz)) if since else None)
    until_at = parse_time(until, tz) if until else None
    found = [
        m
        for m in await inbound.search(account.id, flt, limit=MO_LIMIT)
        if (until_at is None or m.received_at <= until_at)
        and _mo_type(inbound.keyword_action(m.text)) == kind
    ]
    shown = found[(page - 1) * size : page * size]
    out = MoHistoryOut(
        total=len(found),
        pageNumber=page,
        pageSize=size,
        mosmshistory=[
            MoLine(
                id=m.id,
                type=kind,
                sender=m.sender,
                recipient=m.recipient,
                message=m.text,
                received_time=format_time(m.received_at, tz) or "",
            )
            for m in shown
        ],
    )
    return JSONResponse(out.model_dump())


def _mo_type(action: str | None) -> str:
    return "STOP" if action == "out" else "OTHER"


@router.api_route(
    "/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def unknown(path: str) -> Response:
    """Anything else under the prefix: the provider's 404, not the framework's."""
    raise NotFound(f"no method {path!r} in this API")
