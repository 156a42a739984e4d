"""SMSmobileAPI (seed 003) received side: ``/getsms/``, ``/getsms/set-read/``,
``/getsms/update/`` (alias), ``/deletesms/`` and ``/conversation/sms/list/``."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from textgate.core.clock import to_ms
from textgate.core.phone_sms import ConversationLine, ReceivedSms
from textgate.dialects.base import error_route_class, lookup_services
from textgate.dialects.smsmobileapi.errors import (
    render_conversation_error,
    render_result_error,
)
from textgate.dialects.smsmobileapi.params import authenticate, read_params
from textgate.dialects.smsmobileapi.paths import at
from textgate.dialects.smsmobileapi.routes import zone_of
from textgate.dialects.smsmobileapi.schemas import (
    ConversationMessage,
    ConversationOut,
    ConversationsOut,
    DeleteOut,
    DeleteResult,
    ReceivedLine,
    ReceivedOut,
    ReceivedResult,
    day,
    hour,
)
from textgate.errors import InvalidRequest

__all__ = ["conversation_router", "router"]

router = APIRouter(tags=["smsmobileapi"], route_class=error_route_class(render_result_error))
conversation_router = APIRouter(
    tags=["smsmobileapi"], route_class=error_route_class(render_conversation_error)
)

DEFAULT_CONVERSATIONS = 20
UTC_ZONE = ZoneInfo("UTC")


def _masked_key(account_id: str) -> str:
    # The seed's record carries "the API key associated with the message", masked in
    # examples; textgate never shows keys, so an account fingerprint stands in for it.
    return hashlib.sha256(f"smsmobileapi:{account_id}".encode()).hexdigest()[:32]


def _received_line(m: ReceivedSms, tz: ZoneInfo, key: str) -> ReceivedLine:
    local = m.received_at.astimezone(tz)
    return ReceivedLine(
        id=m.id,
        sIdentifiantPhone=m.device_id or "",
        date=day(m.stored_at, UTC_ZONE),
        hour=hour(m.stored_at, UTC_ZONE),
        timestamp_unix=int(m.stored_at.timestamp()),
        time_received=local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}",
        indice=m.id[-8:],
        message=m.text,
        number=m.sender,
        guid=m.id,
        alias=m.alias,
        apikey=key,
    )


@at(router, "getsms", response_model=ReceivedOut)
async def received(request: Request) -> Response:
    params = await read_params(request)
    account = await authenticate(request, params)
    after = params.integer("after_timestamp_unix")
    found = await lookup_services(request).phone_sms.received(
        account.id,
        device_id=params.get("sIdentifiantPhone") or None,
        after_ms=None if after is None else after * 1000,
        unread=params.flag("onlyunread"),
    )
    tz = zone_of(account)
    key = _masked_key(account.id)
    out = ReceivedOut(result=ReceivedResult(sms=[_received_line(m, tz, key) for m in found]))
    return JSONResponse(out.model_dump())


@at(router, "getsms/set-read")
async def set_read(request: Request) -> Response:
    params = await read_params(request)
    account = await authenticate(request, params)
    guid = params.require("guid_message")
    await lookup_services(request).inbound.update(account.id, guid, read=True)
    return JSONResponse({"result": {"error": "0", "guid_message": guid, "read": "1"}})


@at(router, "getsms/update")
async def set_alias(request: Request) -> Response:
    params = await read_params(request)
    account = await authenticate(request, params)
    guid = params.require("guid")
    if not params.has("alias"):
        # Required, but may be empty to clear the alias (seed 003).
        raise InvalidRequest("Missing required parameter: alias")
    alias = params.get("alias") or ""
    if len(alias) > 100:
        raise InvalidRequest("an alias has at most 100 characters")
    stored = await lookup_services(request).inbound.update(
        account.id, guid, alias=alias or None, clear_alias=alias == ""
    )
    return JSONResponse({"result": {"error": "0", "guid": guid, "alias": stored.alias}})


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(f"{name} is a date as YYYY-MM-DD") from exc


def _midnight(d: date, tz: ZoneInfo) -> int:
    return to_ms(datetime(d.year, d.month, d.day, tzinfo=tz))


@at(router, "deletesms", response_model=DeleteOut)
async def delete(request: Request) -> Response:
    """One received SMS by guid, or those received on ``date_start`` (through ``date_end``)."""
    params = await read_params(request)
    account = await authenticate(request, params)
    tz = zone_of(account)
    guid = params.get("guid_message") or None
    start, end = params.get("date_start"), params.get("date_end")
    if guid is None and not start:
        raise InvalidRequest("Missing required parameter: guid_message or date_start")
    if end and not start:
        raise InvalidRequest("date_end needs date_start")
    since = until = None
    if start:
        first = _day(start, "date_start")
        last = _day(end, "date_end") if end else first
        if last < first:
            raise InvalidRequest("date_end is before date_start")
        since, until = _midnight(first, tz), _midnight(last + timedelta(days=1), tz)
    count = await lookup_services(request).phone_sms.delete_received(
        account.id, inbound_id=guid, since_ms=since, until_ms=until
    )
    return JSONResponse(DeleteOut(result=DeleteResult(count_delete=count)).model_dump())


def _moment(value: str, name: str, tz: ZoneInfo, *, end: bool) -> int:
    """A date (its start, or the next day's start for an end) or a full date and time."""
    if len(value) == 10:
        d = _day(value, name)
        return _midnight(d + timedelta(days=1) if end else d, tz)
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T").replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRequest(f"{name} is YYYY-MM-DD or a full date and time") from exc
    moment = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)
    return to_ms(moment) + (1 if end else 0)


def _number(value: str | None) -> str | None:
    if not value:
        return None
    # Stored numbers are E.164 with '+'; a client may leave the '+' out.
    return f"+{value}" if value.isdigit() and len(value) > 6 else value


def _message(line: ConversationLine, tz: ZoneInfo) -> ConversationMessage:
    incoming = line.direction == "incoming"
    return ConversationMessage(
        direction=line.direction,
        message_id=line.id,
        date=line.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
        timestamp_utc=line.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        message=line.text,
        status="received" if incoming else "sent",
        mobile_sid=line.device_id,
    )


@at(conversation_router, "conversation/sms/list", response_model=ConversationsOut)
async def conversations(request: Request) -> Response:
    params = await read_params(request)
    account = await authenticate(request, params)
    tz = zone_of(account)
    origin = params.require("origineConversation")
    if origin not in ("received", "sent"):
        raise InvalidRequest("origineConversation is received or sent")
    sort = (params.get("sort") or "DESC").upper()
    if sort not in ("ASC", "DESC"):
        raise InvalidRequest("sort is DESC or ASC")
    limit = params.integer("limit") or DEFAULT_CONVERSATIONS
    if limit < 1:
        raise InvalidRequest("limit is a positive whole number")
    resume = params.flag("resume")
    lines = params.integer("resume_line_how") or 1
    if lines < 1:
        raise InvalidRequest("resume_line_how is a positive whole number")
    start, end = params.get("date_from"), params.get("date_to")
    found = await lookup_services(request).phone_sms.conversations(
        account.id,
        origin="received" if origin == "received" else "sent",
        number=_number(params.get("numero")),
        since_ms=_moment(start, "date_from", tz, end=False) if start else None,
        until_ms=_moment(end, "date_to", tz, end=True) if end else None,
        newest_first=sort == "DESC",
        limit=limit,
    )
    out = ConversationsOut(
        origineConversation=origin,
        resume=1 if resume else 0,
        resume_line_how=lines if resume else None,
        conversations=[
            ConversationOut(
                phone_number=c.number,
                contact_alias=c.alias,
                messages=[_message(m, tz) for m in (c.lines[-lines:] if resume else c.lines)],
            )
            for c in found
        ],
    )
    return JSONResponse(out.model_dump())
