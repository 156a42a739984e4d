"""SMSmobileAPI (seed 003) sending side: ``/sendsms/``, ``/resend/``, ``/log/sent/sms/`` and
``/log/sent/frommobile/``, at the site root as the provider serves them.

Messages go out through the account's phones (the android connector): ``sIdentifiant``
names the phone (a device id, as ``/gateway/mobile/list/`` shows it) and ``port`` its SIM.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from textgate.core.accounts import Account
from textgate.core.clock import to_ms
from textgate.core.message import Status
from textgate.core.phone_sms import HISTORY_DAYS, PhoneSent, PhoneSentQuery, SentSms, SortField
from textgate.dialects.base import client_ip, error_route_class, lookup_services
from textgate.dialects.smsmobileapi.errors import NOT_SUPPORTED, render_result_error
from textgate.dialects.smsmobileapi.params import Params, authenticate, read_params
from textgate.dialects.smsmobileapi.paths import at
from textgate.dialects.smsmobileapi.schemas import (
    Encrypted,
    PhoneSentLine,
    PhoneSentOut,
    PhoneSentResult,
    ResendOut,
    ResendResult,
    SendOut,
    SendResult,
    SentLine,
    SentOut,
    SentResult,
    TrialAccount,
    day,
    hour,
    iso_local,
    iso_utc,
    timearea,
)
from textgate.errors import InvalidRequest
from textgate.services.phone_sms import SentFilter
from textgate.services.submit_request import SubmitRequest

__all__ = ["INTERFACE", "base_url", "router", "send", "zone_of"]

INTERFACE = "smsmobileapi"
MAX_LOG = 500
MAX_PHONE_LOG = 200
# SIM ports the seed names ("1, 2, or leave it empty"); the SMSGate app numbers SIMs from 1.
PORTS = (1, 2)
_SPLIT = re.compile(r"[,;]")
# The send answer's note when no phone of the account is there to take the message.
NO_MOBILE = "waiting for a mobile: none is connected; sent when one connects"
_PERIODS = ("today", "yesterday", "last_24h", "last_3days", "last_7days")

router = APIRouter(tags=["smsmobileapi"], route_class=error_route_class(render_result_error))


def zone_of(account: Account) -> ZoneInfo:
    return ZoneInfo(account.rules.timezone)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _recipients(raw: str) -> list[str]:
    found = []
    for part in _SPLIT.split(raw):
        number = part.strip()
        if not number:
            continue
        # An unencoded '+' in a query string arrives as a space: the seed's own example sends
        # "recipients=+1234567890" so.
        if part.startswith(" ") and number[0].isdigit():
            number = f"+{number}"
        found.append(number)
    return found


def _port(value: str | None) -> int | None:
    if not value:
        return None
    # isascii(): isdigit() also holds for digits int() refuses (superscripts).
    if not (value.isascii() and value.isdigit()) or int(value) not in PORTS:
        raise InvalidRequest("port is 1, 2 or empty")
    return int(value)


@at(router, "sendsms", response_model=SendOut)
async def send_sms(request: Request) -> Response:
    return JSONResponse(await send(request, await read_params(request)))


async def send(request: Request, params: Params) -> dict[str, Any]:
    """The send answer's body; shared with the SOAP ``sendSms``."""
    account = await authenticate(request, params)
    reg = lookup_services(request)
    params.require("recipients")
    recipients = _recipients(params.text("recipients") or "")
    text = params.text("message") or ""
    if not text.strip():
        raise InvalidRequest("Missing required parameter: message")
    whatsapp = params.flag("sendwa")
    if not params.flag("sendsms", default=True) and not whatsapp:
        raise InvalidRequest("sendsms=0 and sendwa=0: there is nothing to send")
    if whatsapp:
        raise InvalidRequest(
            "WhatsApp is not available: this gateway sends SMS through your phones only."
            " Nothing was sent; send again without sendwa=1.",
            code=NOT_SUPPORTED,
        )
    port = _port(params.get("port"))
    device_id = params.get("sIdentifiant") or None
    if device_id is not None:
        # The submit checks it too, but a sealed text or a short link below would be
        # stored before it: a request refused for its phone must leave nothing.
        await reg.devices.get(account.id, device_id)
    stamp = params.integer("schedule_timestamp")
    if stamp is not None and stamp < 0:
        raise InvalidRequest("schedule_timestamp is a Unix time in seconds")
    schedule_at = None if not stamp else datetime.fromtimestamp(stamp, UTC)
    encrypted = Encrypted(status="0")
    if params.flag("encrypt_message"):
        sealed = await reg.sealed_messages.seal(account.id, text)
        link = f"{base_url(request)}/m/{sealed.code}"
        encrypted = Encrypted(status="1", key=sealed.key, url=link)
        text = f"You have received an encrypted message. Read it at {link}"
    if params.flag("shorturl"):
        text = await reg.short_links.shorten(account.id, text, base_url(request))
    result = await reg.submit.submit(
        SubmitRequest(
            account=account,
            recipients=recipients,
            text=text,
            interface=INTERFACE,
            client_ip=client_ip(request),
            schedule_at=schedule_at,
            device_id=device_id,
            sim_number=port,
            # A number without its country code is dialled by the phone as it is: read it
            # in the phone's own country (seed 003 sends through the account's phones).
            dialing_country=None
            if account.rules.default_country
            else await reg.devices.dialing_country(account.id, device_id),
        )
    )
    accepted = [m for m in result.messages if m.status != Status.REJECTED]
    scheduled = any(m.status == Status.SCHEDULED for m in accepted)
    if scheduled:
        notes = ["scheduled"]
    elif accepted and not await reg.devices.any_online(account.id, device_id):
        # Seed 003: "sent" 1 means accepted for sending by the mobile. The message is kept
        # and goes when a phone connects; the note must not claim a phone took it.
        notes = [NO_MOBILE]
    else:
        notes = ["sent by mobile"]
    notes += [f"refused {m.recipient}: {m.reason}" for m in result.messages if m not in accepted]
    now = datetime.now(UTC)
    out = SendOut(
        result=SendResult(
            sent="1" if accepted else "0",
            id=",".join(m.id for m in result.messages),
            note="; ".join(notes),
            datetime=iso_utc(now),
            datetimeLocal=iso_local(now, zone_of(account)),
            port=port,
            encrypted=encrypted,
            trial_account=TrialAccount(),
        )
    )
    return _null_port(out)


def _null_port(out: SendOut) -> dict[str, Any]:
    # ``port`` is null, not absent, when no SIM was asked for (seed 003 example).
    body = out.model_dump(exclude_none=True)
    body["result"]["port"] = out.result.port
    return body


@at(router, "resend", response_model=ResendOut)
async def resend(request: Request) -> Response:
    params = await read_params(request)
    account = await authenticate(request, params)
    attempt = await lookup_services(request).phone_sms.resend(
        account, params.require("guid"), interface=INTERFACE, client_ip=client_ip(request)
    )
    return JSONResponse(ResendOut(result=ResendResult(attempt=attempt)).model_dump())


def _shifted(moment: datetime, tz: ZoneInfo) -> int:
    """The seed's "UNIX timestamp of the local date/time": local wall time read as UTC."""
    offset = moment.astimezone(tz).utcoffset() or timedelta(0)
    return int((moment + offset).timestamp())


def _sent_line(m: SentSms, tz: ZoneInfo) -> SentLine:
    sent = m.phone_sent_at
    return SentLine(
        sIdentifiantPhone=m.device_id or "",
        port=m.sim_number or 0,
        date_add=day(m.created_at, tz),
        hour_add=hour(m.created_at, tz),
        timestamp=_shifted(m.created_at, tz),
        send_from_mobile=1 if sent is not None else 0,
        send_from_mobile_date="" if sent is None else day(sent, tz),
        send_from_mobile_heure="" if sent is None else hour(sent, tz),
        send_from_mobile_timestamp=0 if sent is None else _shifted(sent, tz),
        recipients=m.recipient.lstrip("+"),
        sms=m.text,
        error_api=m.api_error or "",
        send_from_mobile_erreur=m.phone_error or "",
        guid_message=m.id,
        timearea=timearea(m.created_at, tz),
        date_add_server=day(m.created_at, ZoneInfo("UTC")),
        hour_add_server=hour(m.created_at, ZoneInfo("UTC")),
        timestamp_server=int(m.created_at.timestamp()),
        send_from_mobile_date_server="" if sent is None else day(sent, ZoneInfo("UTC")),
        send_from_mobile_heure_server="" if sent is None else hour(sent, ZoneInfo("UTC")),
    )


def _before(value: str | None) -> tuple[int | None, str | None]:
    """``before`` is a Unix timestamp or a message id (seed: "a timestamp or a message
    reference")."""
    if not value:
        return None, None
    if value.isascii() and value.isdigit():
        if len(value) > 11:
            raise InvalidRequest("before is a Unix time in seconds or a message id")
        return int(value) * 1000, None
    return None, value


@at(router, "log/sent/sms", response_model=SentOut)
async def sent_log(request: Request) -> Response:
    params = await read_params(request)
    account = await authenticate(request, params)
    before_ms, before_id = _before(params.get("before"))
    found = await lookup_services(request).phone_sms.sent(
        account.id,
        SentFilter(
            guid=params.get("guid_message") or None,
            before_ms=before_ms,
            before_id=before_id,
            api_errors=params.flag("error_api"),
            phone_errors=params.flag("error_mobile"),
            keyword=params.get("keyword") or None,
            limit=MAX_LOG,
        ),
    )
    tz = zone_of(account)
    out = SentOut(result=SentResult(sms=[_sent_line(m, tz) for m in found]))
    return JSONResponse(out.model_dump())


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(f"{name} is a date as YYYY-MM-DD") from exc


def _midnight(d: date, tz: ZoneInfo) -> int:
    return to_ms(datetime(d.year, d.month, d.day, tzinfo=tz))


def _window(params: Params, tz: ZoneInfo, now: datetime) -> tuple[int, int | None]:
    since = to_ms(now - timedelta(days=HISTORY_DAYS))
    until: int | None = None
    exact = params.get("date")
    if exact:
        d = _date(exact, "date")
        since, until = max(since, _midnight(d, tz)), _midnight(d + timedelta(days=1), tz)
    start, end = params.get("date_from"), params.get("date_to")
    if start:
        since = max(since, _midnight(_date(start, "date_from"), tz))
    if end:
        stop = _midnight(_date(end, "date_to") + timedelta(days=1), tz)
        until = stop if until is None else min(until, stop)
    period = params.get("period")
    if period:
        if period not in _PERIODS:
            raise InvalidRequest(f"period is one of {', '.join(_PERIODS)}")
        today = now.astimezone(tz).date()
        starts = {
            "today": _midnight(today, tz),
            "yesterday": _midnight(today - timedelta(days=1), tz),
            "last_24h": to_ms(now - timedelta(hours=24)),
            "last_3days": to_ms(now - timedelta(days=3)),
            "last_7days": to_ms(now - timedelta(days=7)),
        }
        since = max(since, starts[period])
        if period == "yesterday":
            stop = _midnight(today, tz)
            until = stop if until is None else min(until, stop)
    return since, until


def _stamp(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


@at(router, "log/sent/frommobile", response_model=PhoneSentOut)
async def phone_sent_log(request: Request) -> Response:
    params = await read_params(request)
    account = await authenticate(request, params)
    tz = zone_of(account)
    utc = ZoneInfo("UTC")
    since, until = _window(params, tz, datetime.now(UTC))
    sort_by = params.get("sort_by") or SortField.MOBILE_DATE_MS.value
    if sort_by not in {f.value for f in SortField}:
        raise InvalidRequest(f"sort_by is one of {', '.join(f.value for f in SortField)}")
    order = (params.get("sort_order") or "DESC").upper()
    if order not in ("ASC", "DESC"):
        raise InvalidRequest("sort_order is ASC or DESC")
    limit = params.integer("limit") or MAX_PHONE_LOG
    if limit < 1:
        raise InvalidRequest("limit is a positive whole number")
    limit = min(limit, MAX_PHONE_LOG)

    def formatted(row: PhoneSent) -> tuple[str, str]:
        sent = datetime.fromtimestamp(row.sent_at_ms / 1000, UTC)
        return _stamp(sent, tz), _stamp(row.synced_at, utc)

    rows = await lookup_services(request).phone_sms.phone_sent(
        account.id,
        PhoneSentQuery(
            since_ms=since,
            until_ms=until,
            number=params.get("number") or None,
            device_id=params.get("sIdentifiant") or None,
            message=params.get("message") or None,
            search=params.get("search") or None,
            sort_by=SortField(sort_by),
            descending=order == "DESC",
            limit=limit,
        ),
        formatted,
    )
    lines = []
    for row in rows:
        shown, synced = formatted(row)
        lines.append(
            PhoneSentLine(
                sIdentifiant=row.device_id,
                number=row.number,
                message=row.message,
                mobile_date_ms=row.sent_at_ms,
                mobile_date_formatted=shown,
                synchro_time=synced,
            )
        )
    out = PhoneSentOut(
        result=PhoneSentResult(
            count=len(lines),
            limit=limit,
            history_limit_days=HISTORY_DAYS,
            sort_by=sort_by,
            sort_order=order,
            sms=lines,
        )
    )
    return JSONResponse(out.model_dump())
