"""MailUp transactional SMS at ``/api/v2.0/`` (seed 002, "Transactional SMS";
shared/specs/dialects.md, "MailUp").

``POST sms/{account_ID}/{List_ID}`` needs no Authorization header: the body's ListGuid and
ListSecret are the credentials. ``lists/{List_ID}/listsecret`` (GET, POST, DELETE) takes
HTTP Basic with the account's username and password. ``GET sms/{account_ID}/{List_ID}/
{DeliveryId}`` reads a delivery's status, with the list's credentials as query parameters
or HTTP Basic.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from textgate.core.accounts import Account
from textgate.core.message import Message
from textgate.core.pricing import MICRO
from textgate.core.templates import fields_of
from textgate.dialects.base import basic_credentials, client_ip, error_route_class, lookup_services
from textgate.dialects.base import read_body as read_body_within
from textgate.dialects.ids import parse_id
from textgate.dialects.mailup.errors import STATS_WARNING, render_sms_error
from textgate.dialects.mailup.schemas import NULL_INPUT, SmsIn, envelope, lower_keys, parse_body
from textgate.dialects.mailup.status import STATUS_WORDS
from textgate.errors import AuthenticationFailed, GatewayError, InvalidRequest
from textgate.services.list_sms import ListSms
from textgate.services.lists import LIST_NOT_FOUND

__all__ = ["PREFIX", "read_body", "router"]

PREFIX = "/api/v2.0"
MAX_BODY_BYTES = 256 * 1024

router = APIRouter(prefix=PREFIX, tags=["mailup"], route_class=error_route_class(render_sms_error))


async def read_body(request: Request) -> bytes:
    return await read_body_within(request, MAX_BODY_BYTES)


def _basic(request: Request) -> tuple[str, str] | None:
    return basic_credentials(request.headers.get("authorization"))


async def _basic_account(request: Request) -> Account:
    pair = _basic(request)
    if pair is None:
        raise AuthenticationFailed("HTTP Basic authentication is required")
    return await lookup_services(request).credentials.verify(*pair, client_ip=client_ip(request))


def _number(value: str, what: str) -> int:
    number = parse_id(value)
    if number is None:
        raise InvalidRequest(f"{what} is not valid", code=LIST_NOT_FOUND)
    return number


def _done(data: object, code: str = "0", description: str = "") -> JSONResponse:
    return JSONResponse(envelope(data, code, description))


# -- ListSecret ------------------------------------------------------------------------


def _guid_param(request: Request, raw: bytes) -> str:
    """ListGUID from the JSON body (POST) or the ``listGUID`` query parameter (DELETE)."""
    for name, value in request.query_params.items():
        if name.lower() == "listguid" and value:
            return value
    if raw.strip():
        body = parse_body(raw, SmsIn)
        if body.listguid:
            return body.listguid
    raise InvalidRequest("ListGUID is required", code="invalid_request")


@router.get("/lists/{list_id}/listsecret")
async def read_list_secret(request: Request, list_id: str) -> Response:
    """``{"Data":{"ListSecret":null|"..."}}``: null until one is created."""
    account = await _basic_account(request)
    secret = await lookup_services(request).lists.secret(account.id, _number(list_id, "listID"))
    return _done({"ListSecret": secret})


@router.post("/lists/{list_id}/listsecret")
async def create_list_secret(request: Request, list_id: str) -> Response:
    """Create the list's ListSecret (the one it has, if any), for the body's ListGUID."""
    account = await _basic_account(request)
    guid = _guid_param(request, await read_body(request))
    secret = await lookup_services(request).lists.create_secret(
        account.id, _number(list_id, "listID"), guid
    )
    return _done({"ListSecret": secret})


@router.delete("/lists/{list_id}/listsecret")
async def delete_list_secret(request: Request, list_id: str) -> Response:
    """Disable transactional SMS on the list (a POST afterwards makes a new secret)."""
    account = await _basic_account(request)
    guid = _guid_param(request, await read_body(request))
    await lookup_services(request).lists.delete_secret(account.id, _number(list_id, "listID"), guid)
    return _done({"ListSecret": None})


# -- Sending ---------------------------------------------------------------------------


def _required(value: str | None) -> str:
    if value is None or not value.strip():
        raise InvalidRequest("missing or empty parameter", code="invalid_request")
    return value.strip()


@router.post("/sms/{account_id}/{list_id}")
async def send_sms(request: Request, account_id: str, list_id: str) -> Response:
    raw = await read_body(request)
    recipient = ""
    try:
        body = parse_body(raw, SmsIn)
        recipient = (body.recipient or "").strip()
        if body.templateid is None:
            _required(body.content)
        sms = ListSms(
            console_id=_number(account_id, "account"),
            list_id=_number(list_id, "listID"),
            guid=_required(body.listguid),
            secret=_required(body.listsecret),
            recipient=_required(body.recipient),
            content=body.content,
            template_id=body.templateid,
            fields=fields_of((f.n or "", f.v or "") for f in body.dynamicfields or ()),
            campaign=(body.campaigncode or "").strip()[:200] or None,
            unicode=body.isunicode,
            sender=body.sender,
            client_ip=client_ip(request),
        )
        sent = await lookup_services(request).list_sms.send(sms)
    except GatewayError as exc:
        # Some descriptions name the recipient and the list (seed 002: 104, 206, 302).
        return render_sms_error(exc, recipient=recipient, list_id=list_id)
    data = {"DeliveryId": sent.delivery_id, "Cost": sent.cost / MICRO}
    if not sent.recorded:
        return _done(data, *STATS_WARNING)
    return _done(data)


def _delivery(message: Message, delivery_id: int) -> dict[str, object]:
    return {
        "DeliveryId": delivery_id,
        "Recipient": message.recipient,
        "Sender": message.sender,
        "Status": STATUS_WORDS[message.status],
        "ErrorCode": message.error_code,
        "Cost": message.cost / MICRO,
        "Parts": message.segments,
        "CreationDate": message.created_at.strftime("%Y-%m-%dT%H:%M:%S"),
        "UpdateDate": message.updated_at.strftime("%Y-%m-%dT%H:%M:%S"),
    }


@router.get("/sms/{account_id}/{list_id}/{delivery_id}")
async def delivery_status(
    request: Request, account_id: str, list_id: str, delivery_id: str
) -> Response:
    """The status of one transactional SMS by its DeliveryId."""
    services = lookup_services(request)
    console = _number(account_id, "account")
    number = _number(list_id, "listID")
    owner = await services.list_sms.account_of(console)
    if _basic(request) is not None:
        account = await _basic_account(request)
        if account.id != owner:
            raise AuthenticationFailed("the account is not yours")
        await services.lists.get(owner, number)
    else:
        query = lower_keys(dict(request.query_params))
        await services.lists.checked(
            owner, number, _required(query.get("listguid")), _required(query.get("listsecret"))
        )
    delivery = parse_id(delivery_id)
    if delivery is None:
        raise InvalidRequest("DeliveryId is a number", code="invalid_request")
    message = await services.list_sms.delivery(console, number, delivery)
    return _done(_delivery(message, delivery))


@router.api_route(
    "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
async def unknown(path: str) -> Response:
    """Anything else under the prefix: the provider's format, not the framework's."""
    raise InvalidRequest(f"no method {path!r} in this API", code=NULL_INPUT)
