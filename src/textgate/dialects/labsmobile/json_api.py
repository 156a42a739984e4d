"""LabsMobile's JSON API (shared/specs/dialects.md, "LabsMobile"; apidocs.labsmobile.com):

- ``POST /json/send``: ``{"recipient": [{"msisdn"}], "message", "tpoa", "subid", "test",
  "scheduled", "ucs2", "long", ...}`` (dialects.labsmobile.sending), the body JSON with or
  without a Content-Type, also wrapped in a one-element array; answers
  ``{"code": "0", "message", "subid"}``, ``code`` a string;
- ``GET /json/balance``: ``{"code": 0, "credits": "<balance>"}``, ``code`` a number;
- ``POST /json/scheduled``: ``{"subid", "cmd": "cancel" | "send"}`` cancels the scheduled
  messages of that subid or sends them now; ``code`` a number.

Credentials are HTTP Basic, ``username:token``: the account's login username (or its
name) and one of its API keys, as LabsMobile's "API token used as password". Every answer
is JSON, whatever went wrong (LabsMobile's libraries read every answer's body); its HTTP
status and codes are dialects.labsmobile.errors'.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from textgate.core.accounts import Account
from textgate.core.message import Status
from textgate.core.pricing import format_amount
from textgate.dialects.base import (
    basic_credentials,
    client_ip,
    decode_json,
    error_route_class,
    lookup_services,
    read_body,
)
from textgate.dialects.labsmobile.errors import (
    MESSAGES,
    MISSING_DATA,
    NO_RECIPIENTS,
    OK,
    SEND_ERROR,
    LabsRefusal,
    Outcome,
    outcome_of,
)
from textgate.dialects.labsmobile.sending import SendOrder, carry_out, flag
from textgate.errors import AuthenticationFailed, GatewayError

__all__ = ["account_router", "authenticated", "send_router"]

MAX_BODY_BYTES: Final = 4 * 1024 * 1024
"""Room for the largest batch LabsMobile takes (10,000 recipients) and its text."""
CANCEL: Final = "cancel"
SEND_NOW: Final = "send"


def _send_answer(outcome: Outcome) -> Response:
    body: dict[str, str] = {"code": str(outcome.code), "message": outcome.message}
    if outcome.subid is not None:
        body["subid"] = outcome.subid
    return JSONResponse(body, status_code=outcome.http_status)


def _numeric_answer(outcome: Outcome, **extra: str) -> Response:
    body: dict[str, Any] = {"code": outcome.code, "message": outcome.message, **extra}
    return JSONResponse(body, status_code=outcome.http_status)


def _send_error(exc: GatewayError | None) -> Response:
    return _send_answer(outcome_of(exc))


def _numeric_error(exc: GatewayError | None) -> Response:
    return _numeric_answer(outcome_of(exc))


# /json/send answers its code as a string, the other two as a number (labsmobile-sms
# compares ``code !== '0'`` for a sending and ``code !== 0`` for the others): one router,
# and so one error shape, each.
send_router = APIRouter(tags=["labsmobile"], route_class=error_route_class(_send_error))
account_router = APIRouter(tags=["labsmobile"], route_class=error_route_class(_numeric_error))


async def authenticated(request: Request, username: str = "", token: str = "") -> Account:
    """The account of the Basic credentials, else of ``username`` and ``token`` (the
    http/GET interface's ``username`` and ``password`` parameters)."""
    credentials = basic_credentials(request.headers.get("authorization"))
    if credentials is not None:
        username, token = credentials
    if not username or not token:
        raise AuthenticationFailed("send HTTP Basic credentials: the username and an API token")
    return await lookup_services(request).email_logins.by_token(username, token)


async def _fields(request: Request) -> Mapping[str, Any]:
    """The body's object (LabsMobile's clients also send it as a one-element array)."""
    body = await read_body(request, MAX_BODY_BYTES)
    if not body.strip():
        raise LabsRefusal(MISSING_DATA)
    decoded = decode_json(body)
    if isinstance(decoded, list) and len(decoded) == 1:
        decoded = decoded[0]
    if not isinstance(decoded, dict):
        raise LabsRefusal(MISSING_DATA, "the body is a JSON object")
    return decoded


def _text(value: Any) -> str | None:
    """A field given as text or as a number (clients write ``subid`` and ``tpoa`` both
    ways); None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _recipients(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise LabsRefusal(NO_RECIPIENTS, "recipient is a list of {msisdn}")
    found = []
    for item in raw:
        msisdn = _text(item.get("msisdn")) if isinstance(item, dict) else _text(item)
        if not msisdn:
            raise LabsRefusal(NO_RECIPIENTS, "each recipient is {msisdn}: a phone number")
        found.append(msisdn)
    return found


def send_order(fields: Mapping[str, Any]) -> SendOrder:
    """The request a JSON body makes."""
    return SendOrder(
        recipients=_recipients(fields.get("recipient")),
        message=_text(fields.get("message")),
        sender=_text(fields.get("tpoa")) or None,
        subid=_text(fields.get("subid")) or None,
        test=flag(fields.get("test")),
        scheduled=_text(fields.get("scheduled")),
        ucs2=flag(fields.get("ucs2")),
        long=flag(fields.get("long")),
    )


@send_router.post("/json/send")
async def send(request: Request) -> Response:
    account = await authenticated(request)
    order = send_order(await _fields(request))
    services = lookup_services(request)
    return _send_answer(await carry_out(services, account, order, client_ip(request)))


@account_router.get("/json/balance")
async def balance(request: Request) -> Response:
    account = await authenticated(request)
    summary = await lookup_services(request).accounts.summary(account)
    return JSONResponse({"code": OK, "credits": format_amount(summary.balance)})


@account_router.post("/json/scheduled")
async def scheduled(request: Request) -> Response:
    """Cancel, or send now, the messages of a subid that are still scheduled."""
    account = await authenticated(request)
    fields = await _fields(request)
    subid, cmd = _text(fields.get("subid")) or "", _text(fields.get("cmd")) or ""
    if not subid or cmd not in (CANCEL, SEND_NOW):
        raise LabsRefusal(MISSING_DATA, "a subid, and cmd: cancel or send")
    services = lookup_services(request)
    order_id = await services.history.find(account.id, subid)
    waiting = [] if order_id is None else await services.messages.order(account.id, order_id)
    waiting = [m for m in waiting if m.status == Status.SCHEDULED]
    if order_id is None or not waiting:
        raise LabsRefusal(SEND_ERROR, f"no scheduled messages under the subid {subid[:40]!r}")
    if cmd == CANCEL:
        await services.messages.cancel_order(account.id, order_id)
        return _numeric_answer(Outcome(OK, "Scheduled messages cancelled"), subid=subid)
    for message in waiting:
        # Due now: the dispatcher takes them as any queued message.
        await services.messages.release(account, message.id)
    return _numeric_answer(Outcome(OK, MESSAGES[OK]), subid=subid)
