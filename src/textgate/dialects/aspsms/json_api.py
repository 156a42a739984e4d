"""ASPSMS's JSON API (shared/specs/dialects.md, "ASPSMS": ``POST /SendSimpleTextSMS``,
``/SendTextSMS``, ``/CheckCredits``; the body JSON, often sent with no Content-Type, its
keys in varying case, ``UserName`` and ``Username`` alike; every answer has ``StatusCode``
and ``StatusInfo`` as strings, ``"1"`` for OK).

The JSON API carries out what the XML interface does (dialects.aspsms.xml_request) and
answers with the same status numbers: the credentials are the UserKey (the account id or
its login username) and password, the recipients ``00``- or ``+``-international numbers,
each with its own ``TransRefNumber`` when given as ``{"PhoneNumber", "TransRefNumber"}``.

- ``SendSimpleTextSMS``: ``Originator``, ``Recipients``, ``MessageText``, ``ForceGSM7bit``;
- ``SendTextSMS``: the same and ``DeferredDeliveryTime`` (``ddmmyyyyhhmmss``, in
  ``TimeZone`` hours, GMT+1 by default) and the ``URLDeliveryNotification``,
  ``URLNonDeliveryNotification`` and ``URLBufferedMessageNotification`` callbacks;
  ``FlashingSMS`` is refused (textgate sends no class 0 messages);
- ``CheckCredits``: the account's balance as ``Credits``;
- ``InquireDeliveryNotifications``: the state of the messages sent with the
  ``TransactionReferenceNumbers`` asked about (``;``-separated), as
  ``DeliveryNotifications`` (dialects.aspsms.delivery).

Answers are HTTP 200 whatever the status, as ASPSMS's, except a body over the size limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from textgate.core.encoding import Encoding
from textgate.dialects.aspsms.addresses import INTERFACE
from textgate.dialects.aspsms.delivery import MAX_REFERENCES, notifications, references
from textgate.dialects.aspsms.xml_request import (
    CREDITS,
    INVALID_MESSAGE,
    MISSING_RECIPIENT,
    OK,
    SEND,
    UNAVAILABLE,
    URL_ELEMENTS,
    Reply,
    XmlRequest,
    execute,
    refusal,
    with_schedule,
)
from textgate.dialects.base import (
    client_ip,
    decode_json,
    error_route_class,
    lookup_services,
    read_body,
)
from textgate.errors import GatewayError, InvalidRequest, RequestTooLarge
from textgate.services.query import MAX_PAGE, MessageFilter

__all__ = ["router"]

MAX_BODY_BYTES: Final = 256 * 1024
MAX_RECIPIENTS: Final = 1000
MAX_REF: Final = 100
JSON_INTERFACE: Final = f"{INTERFACE}-json"
"""How stored messages and metrics name this API (the mail interface is ``aspsms``)."""


def _error(exc: GatewayError | None) -> Response:
    """What escapes before a request's own status applies: the body's size (HTTP 413, the
    server's limit), a body that cannot be read (the message's status), and a failure of
    the gateway (None) or its database, "Service temporarily not available"."""
    if isinstance(exc, RequestTooLarge):
        return JSONResponse(_body(Reply(INVALID_MESSAGE, exc.message)), status_code=413)
    if isinstance(exc, InvalidRequest):
        return JSONResponse(_body(Reply(INVALID_MESSAGE, exc.message)))
    return JSONResponse(_body(Reply(UNAVAILABLE)))


router = APIRouter(tags=["aspsms"], route_class=error_route_class(_error))


def _body(reply: Reply) -> dict[str, str]:
    code, info = reply.status
    text = info if not reply.detail or code == 1 else f"{info}: {reply.detail}"
    return {**reply.extra, "StatusCode": str(code), "StatusInfo": text}


async def _fields(request: Request) -> Mapping[str, Any]:
    """The body's keys in lower case (clients write ``UserName`` and ``Username``)."""
    decoded = decode_json(await read_body(request, MAX_BODY_BYTES))
    if isinstance(decoded, list) and len(decoded) == 1:
        decoded = decoded[0]
    if not isinstance(decoded, dict):
        return {}
    return {str(k).lower(): v for k, v in decoded.items()}


def _str(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name.lower())
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _recipients(raw: Any) -> tuple[tuple[str, str | None], ...] | str:
    """(number, TransRefNumber) pairs, or what is wrong with them."""
    if isinstance(raw, str):
        raw = [r for r in raw.replace(",", ";").split(";") if r.strip()]
    if not isinstance(raw, list):
        return "Recipients is a list of phone numbers"
    if len(raw) > MAX_RECIPIENTS:
        return f"at most {MAX_RECIPIENTS} recipients"
    found: list[tuple[str, str | None]] = []
    for item in raw:
        if isinstance(item, str):
            found.append((item.strip(), None))
        elif isinstance(item, dict):
            lowered = {str(k).lower(): v for k, v in item.items()}
            number, ref = lowered.get("phonenumber"), lowered.get("transrefnumber")
            if not isinstance(number, str) or not isinstance(ref, str | None):
                return "a recipient is {PhoneNumber, TransRefNumber}"
            found.append((number.strip(), (ref or "")[:MAX_REF] or None))
        else:
            return "a recipient is a phone number"
    return tuple(found)


def _number(number: str) -> str:
    # ASPSMS writes international numbers with 00; textgate reads + (the same number).
    return "+" + number[2:] if number.startswith("00") else number


async def _answer(request: Request, action: str, *, full: bool) -> Response:
    fields = await _fields(request)
    recipients = _recipients(fields.get("recipients", [])) if action == SEND else ()
    req = XmlRequest(
        action=action,
        user_key=_str(fields, "UserName"),
        password=_str(fields, "Password"),
        originator=_str(fields, "Originator") or None,
        text=_str(fields, "MessageText"),
        recipients=()
        if isinstance(recipients, str)
        else tuple((_number(n), r) for n, r in recipients),
        urls={n: url for n in URL_ELEMENTS if full and (url := _str(fields, n))},
        interface=JSON_INTERFACE,
        encoding=Encoding.GSM7 if fields.get("forcegsm7bit") is True else None,
    )
    if isinstance(recipients, str):
        req = replace(req, error=(MISSING_RECIPIENT, recipients))
    elif full and fields.get("flashingsms") is True:
        req = replace(req, error=(INVALID_MESSAGE, "FlashingSMS is not supported"))
    elif full:
        req = with_schedule(req, _str(fields, "DeferredDeliveryTime"), _str(fields, "TimeZone"))
    reply, _ = await execute(lookup_services(request), req, client_ip(request))
    return JSONResponse(_body(reply))


@router.post("/SendSimpleTextSMS")
async def send_simple_text_sms(request: Request) -> Response:
    return await _answer(request, SEND, full=False)


@router.post("/SendTextSMS")
async def send_text_sms(request: Request) -> Response:
    return await _answer(request, SEND, full=True)


@router.post("/CheckCredits")
async def check_credits(request: Request) -> Response:
    return await _answer(request, CREDITS, full=False)


@router.post("/InquireDeliveryNotifications")
async def inquire_delivery_notifications(request: Request) -> Response:
    fields = await _fields(request)
    services = lookup_services(request)
    try:
        account = await services.email_logins.by_user_key(
            _str(fields, "UserName"), _str(fields, "Password"), client_ip=client_ip(request)
        )
    except GatewayError as exc:
        return JSONResponse(_body(refusal(exc)))
    refs = references(_str(fields, "TransactionReferenceNumbers"))
    if not refs:
        return JSONResponse(_body(Reply(INVALID_MESSAGE, "no TransactionReferenceNumbers")))
    if len(refs) > MAX_REFERENCES:
        detail = f"at most {MAX_REFERENCES} TransactionReferenceNumbers"
        return JSONResponse(_body(Reply(INVALID_MESSAGE, detail)))
    found = await services.messages.search(
        account.id, MessageFilter(client_refs=tuple(refs)), limit=MAX_PAGE
    )
    answer: dict[str, Any] = _body(Reply(OK))
    answer["DeliveryNotifications"] = notifications(refs, found)
    return JSONResponse(answer)
