"""SMSGate's API for its clients at ``/3rdparty/v1`` (shared/specs/android-device-api.md,
section 6; the vendor's Python client, ``android_sms_gateway``, calls these paths).

- ``POST /messages`` sends ``textMessage`` (or the older ``message``) to ``phoneNumbers``
  (1-100) through the account's routing, or through the phone ``deviceId`` and its SIM
  ``simNumber``; ``ttl`` (seconds) or ``validUntil`` bound the wait, ``scheduleAt`` defers
  it. 202 with the message's state and its ``Location``; a client ``id`` used before is
  409. Numbers are checked (a request with one that is not a phone number is refused
  whole) unless ``skipPhoneValidation``; with ``deviceActiveWithin`` (hours) it is refused
  unless the phone named, or one of the account's phones, was seen within that time (the
  phone that sends is still chosen when it leaves, among those online then).
- ``GET /messages/{id}`` is its state: ``Pending``, ``Processed``, ``Sent``,
  ``Delivered``, ``Failed`` or ``Cancelled``, per recipient and for the whole, and its
  ``deviceId``, the phone that carries it (where a phone does);
  ``DELETE /messages/{id}`` cancels what of it has not left (409 when nothing could be).
- ``GET /messages`` lists them (``from``, ``to``, ``limit``, ``offset``, ``sort``,
  ``deviceId``, ``state``, and ``X-Total-Count``);
- ``GET``/``POST /webhooks`` and ``DELETE /webhooks/{id}``: the account's subscriptions to
  the vendor's events (``sms:received``, ``sms:sent``, ``sms:delivered``, ``sms:failed``,
  ``sms:cancelled``), posted as the app posts them (dialects.smsgate.webhook_format);
- ``GET /devices`` lists the account's phones; ``GET /health`` (no credentials) says the
  API answers.

Credentials are Basic, the account's username or a device login with its password (as the
vendor's registration login), or Bearer with an API key of the account. Data and MMS
messages and end-to-end encrypted ones are refused: textgate carries text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from textgate.core.accounts import Account
from textgate.core.clock import to_ms
from textgate.core.message import Message
from textgate.core.webhooks import Webhook
from textgate.dialects.base import (
    basic_credentials,
    bearer_token,
    client_ip,
    error_route_class,
    input_error,
    lookup_services,
    read_json,
)
from textgate.dialects.smsgate.errors import render_error
from textgate.dialects.smsgate.schemas import STATES, SendIn, WebhookIn, message_state, state_filter
from textgate.dialects.smsgate.webhook_format import EVENTS as WEBHOOK_EVENTS
from textgate.dialects.smsgate.webhook_format import FORMAT as WEBHOOK_FORMAT
from textgate.dialects.smsgate.webhook_format import vendor_event
from textgate.errors import AuthenticationFailed, Conflict, InvalidRequest, NotFound
from textgate.services.submit_request import SubmitRequest
from textgate.services.webhooks import ACCOUNT_SCOPE

__all__ = ["INTERFACE", "router"]

INTERFACE: Final = "smsgate"
"""How stored messages and metrics name this API."""
PREFIX: Final = "/3rdparty/v1"
MAX_BODY_BYTES: Final = 256 * 1024
"""A hundred recipients and the longest text the app sends are far below this."""

router = APIRouter(prefix=PREFIX, tags=["smsgate"], route_class=error_route_class(render_error))


async def _account(request: Request) -> Account:
    services = lookup_services(request)
    authorization = request.headers.get("authorization")
    basic = basic_credentials(authorization)
    if basic is not None:
        login, password = basic
        account_id = await services.devices.account_of_login(login, password, client_ip(request))
        return await services.accounts.get(account_id)
    token = bearer_token(authorization)
    if token is None:
        raise AuthenticationFailed("send Basic credentials (a login) or a Bearer API key")
    return await services.accounts.authenticate(token)


@router.post("/messages", status_code=202)
async def send_message(request: Request) -> Response:
    account = await _account(request)
    try:
        body = SendIn.model_validate(await read_json(request, MAX_BODY_BYTES))
    except ValidationError as exc:
        raise input_error(exc) from exc
    if body.isEncrypted:
        raise InvalidRequest("encrypted messages are not supported: send the text")
    if body.dataMessage is not None or body.mmsMessage is not None:
        raise InvalidRequest("only text messages are supported (textMessage)")
    text = body.textMessage.text if body.textMessage is not None else body.message
    if not text:
        raise InvalidRequest("textMessage.text is required")
    if body.ttl is not None and body.validUntil is not None:
        raise InvalidRequest("ttl and validUntil are mutually exclusive")
    skip = request.query_params.get("skipPhoneValidation", "").lower() == "true"
    services = lookup_services(request)
    hours = _count(request.query_params.get("deviceActiveWithin"), "deviceActiveWithin", 0, 10**6)
    if hours and not await services.devices.any_online(
        account.id, body.deviceId, within=timedelta(hours=hours)
    ):
        # The vendor's words for it (its "deviceActiveWithin" article): the phone named,
        # or every phone of the account, last seen longer ago than that.
        raise InvalidRequest("No active device with such ID found")
    result = await services.submit.submit(
        SubmitRequest(
            account=account,
            recipients=body.phoneNumbers,
            text=text,
            schedule_at=body.scheduleAt,
            valid_until=body.validUntil,
            valid_for=None if body.ttl is None else timedelta(seconds=body.ttl),
            client_ref=body.id,
            idempotency_key=None if body.id is None else f"{INTERFACE}:{body.id}",
            interface=INTERFACE,
            client_ip=client_ip(request),
            device_id=body.deviceId,
            sim_number=body.simNumber,
            invalid_number_fails_request=not skip,
        )
    )
    if result.replayed:
        raise Conflict(f"a message with the id {body.id} exists already")
    ident = body.id or result.order_id
    return JSONResponse(
        message_state(ident, body.deviceId, result.messages),
        status_code=202,
        headers={"Location": f"{PREFIX}/messages/{ident}"},
    )


async def _messages(request: Request, account: Account, ident: str) -> list[Message]:
    """The messages of a message id: the client's own id, else textgate's order id."""
    services = lookup_services(request)
    order_id = await services.history.find(account.id, ident) or ident
    found = await services.messages.order(account.id, order_id)
    if not found:
        raise NotFound(f"no message {ident}")
    return found


MAX_LIST: Final = 100
"""The vendor's largest ``limit`` (spec section 6)."""


@router.get("/messages")
async def list_messages(request: Request) -> Response:
    """The account's messages (one state per message, of any interface), newest first
    unless ``sort=created_at``; ``from`` and ``to`` (RFC 3339) bound when they were accepted,
    ``limit`` (at most 100) and ``offset`` page them, ``X-Total-Count`` counts them all.
    ``deviceId`` keeps those a phone carries, ``state`` those in that state (the message's,
    as the list shows it: its least advanced recipient's)."""
    account = await _account(request)
    query = request.query_params
    least = None
    if query.get("state"):
        least = state_filter(query["state"])
        if least is None:
            raise InvalidRequest(f"state: one of {', '.join(STATES)}")
    sort = query.get("sort", "-created_at")
    if sort not in ("created_at", "-created_at"):
        raise InvalidRequest("sort: created_at or -created_at")
    services = lookup_services(request)
    total, orders = await services.history.slice(
        account.id,
        since_ms=_time(query.get("from"), "from"),
        until_ms=_time(query.get("to"), "to"),
        offset=_count(query.get("offset"), "offset", 0, 10**9),
        limit=_count(query.get("limit"), "limit", 1, MAX_LIST, default=50),
        newest_first=sort == "-created_at",
        device_id=query.get("deviceId") or None,
        least=least,
    )
    listed = [
        (order.client_ref or order.id, found)
        for order in orders
        if (found := await services.messages.order(account.id, order.id))
    ]
    phones = await services.messages.phones(account.id, [m.id for _, ms in listed for m in ms])
    states = [message_state(ident, _phone(found, phones), found) for ident, found in listed]
    return JSONResponse(states, headers={"X-Total-Count": str(total)})


def _phone(messages: list[Message], phones: dict[str, str]) -> str | None:
    """The message's ``deviceId``: the phone that carries it (the vendor's message goes
    to one phone; recipients textgate routed to several name the first's)."""
    return next((phones[m.id] for m in messages if m.id in phones), None)


def _time(raw: str | None, name: str) -> int | None:
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidRequest(f"{name}: an RFC 3339 date and time") from exc
    return to_ms(when if when.tzinfo else when.replace(tzinfo=UTC))


def _count(raw: str | None, name: str, low: int, high: int, *, default: int = 0) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidRequest(f"{name}: a whole number from {low} to {high}")
    return int(raw)


@router.get("/messages/{ident}")
async def get_message(ident: str, request: Request) -> Response:
    account = await _account(request)
    found = await _messages(request, account, ident)
    phones = await lookup_services(request).messages.phones(account.id, [m.id for m in found])
    return JSONResponse(message_state(ident, _phone(found, phones), found))


@router.delete("/messages/{ident}", status_code=204)
async def cancel_message(ident: str, request: Request) -> Response:
    account = await _account(request)
    messages = await _messages(request, account, ident)
    cancelled = await lookup_services(request).messages.cancel_order(
        account.id, messages[0].order_id
    )
    if not cancelled:
        raise Conflict(f"message {ident} is no longer pending")
    return Response(status_code=204)


@router.get("/devices")
async def list_devices(request: Request) -> Response:
    account = await _account(request)
    devices = await lookup_services(request).devices.of_account(account.id)
    body: list[dict[str, Any]] = [
        {
            "id": d.id,
            "name": d.label or d.name,
            "createdAt": d.created_at.isoformat(timespec="milliseconds"),
            "updatedAt": d.updated_at.isoformat(timespec="milliseconds"),
            "lastSeen": d.last_seen_at.isoformat(timespec="milliseconds"),
            "deletedAt": None,
        }
        for d in devices
    ]
    return JSONResponse(body)


@router.get("/health")
async def health() -> Response:
    """The vendor's health answer (``{"status", "checks"}``), without credentials. It says
    the API answers; the gateway's own ``/healthz`` checks its database and links."""
    return JSONResponse({"status": "pass", "checks": {}})


def _webhook(hook: Webhook) -> dict[str, Any]:
    return {
        "id": hook.label or hook.id,
        "deviceId": None,
        "url": hook.url,
        "event": vendor_event(hook.events),
    }


@router.get("/webhooks")
async def list_webhooks(request: Request) -> Response:
    """The account's subscriptions in the vendor's format (those made here)."""
    account = await _account(request)
    hooks = await lookup_services(request).webhooks.of_account(account.id, ACCOUNT_SCOPE)
    return JSONResponse([_webhook(h) for h in hooks if h.format == WEBHOOK_FORMAT])


@router.post("/webhooks", status_code=201)
async def create_webhook(request: Request) -> Response:
    """A subscription to one of the vendor's events, posted in its shape and signed with
    the subscription's secret (``POST /v1/webhooks/{id}/secret`` shows a new one). A
    ``deviceId`` cannot narrow it (textgate's subscriptions are per account). A client
    ``id`` names it from then on, and a subscription made again under that id replaces the
    first, as the app does (clients register their webhooks again at each start: without
    this, every restart would add a subscription and every event would be posted once
    more)."""
    account = await _account(request)
    try:
        body = WebhookIn.model_validate(await read_json(request, MAX_BODY_BYTES))
    except ValidationError as exc:
        raise input_error(exc) from exc
    events = WEBHOOK_EVENTS.get(body.event)
    if events is None:
        offered = ", ".join(WEBHOOK_EVENTS)
        raise InvalidRequest(f"event: one of {offered} (textgate carries text messages)")
    if body.deviceId is not None:
        raise InvalidRequest("deviceId: webhooks here are the account's, for every phone")
    hook = await lookup_services(request).webhooks.create(
        account.id, body.url, events, None, format=WEBHOOK_FORMAT, label=body.id or None
    )
    return JSONResponse(_webhook(hook), status_code=201)


@router.delete("/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, request: Request) -> Response:
    account = await _account(request)
    services = lookup_services(request)
    # The client's own id first (the one it chose when it made it), else textgate's.
    hook = await services.webhooks.labelled(account.id, WEBHOOK_FORMAT, webhook_id)
    if hook is None:
        hook = await services.webhooks.get(account.id, webhook_id)
    if hook.format != WEBHOOK_FORMAT or hook.scope != ACCOUNT_SCOPE:
        raise NotFound(f"no webhook {webhook_id}")
    await services.webhooks.delete(account.id, hook.id)
    return Response(status_code=204)
