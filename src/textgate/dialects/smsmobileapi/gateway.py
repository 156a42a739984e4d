"""SMSmobileAPI (seed 003) account side: the connected mobiles (``/gateway/mobile/list/``,
``/update/``, ``/delete/``), the received-SMS webhook (``/webhook/add/``, ``/webhook/delete/``)
and OAuth2 (``/oauth2/token``, plus ``/oauth2/clients``, where
textgate hands out the client credentials the provider shows in its dashboard)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from textgate.core.devices import Device
from textgate.core.webhooks import INBOUND_RECEIVED
from textgate.dialects.base import (
    basic_credentials,
    client_ip,
    error_route_class,
    lookup_services,
)
from textgate.dialects.smsmobileapi.errors import render_oauth_error, render_result_error
from textgate.dialects.smsmobileapi.params import authenticate, read_params
from textgate.dialects.smsmobileapi.paths import at
from textgate.dialects.smsmobileapi.routes import zone_of
from textgate.dialects.smsmobileapi.schemas import MobileOut, MobilesOut, MobilesResult, TokenOut
from textgate.dialects.smsmobileapi.webhook_format import FORMAT
from textgate.errors import InvalidRequest

__all__ = ["oauth_router", "router"]

router = APIRouter(tags=["smsmobileapi"], route_class=error_route_class(render_result_error))
oauth_router = APIRouter(tags=["smsmobileapi"], route_class=error_route_class(render_oauth_error))

# Token answers must not be cached (RFC 6749 section 5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _mobile(d: Device, tz: ZoneInfo) -> MobileOut:
    sims = sorted({s.sim_number for s in d.sim_cards if s.sim_number is not None})
    seen = d.last_seen_at.astimezone(tz)
    return MobileOut(
        sid=d.id,
        sIdentifiant_pour_check=d.id,
        label=d.label or "",
        nom_reference=d.label or "",
        phone_number=d.phone_number or "",
        name=d.name,
        date_add=d.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
        date_last_seen=seen.strftime("%Y-%m-%d %H:%M:%S"),
        timestamp_last_seen=int(d.last_seen_at.timestamp()),
        sims=sims,
        pending=d.pending,
    )


def _shown(m: MobileOut) -> str:
    return " ".join(str(v) for v in m.model_dump().values() if v is not None).lower()


@at(router, "gateway/mobile/list", response_model=MobilesOut)
async def mobiles(request: Request) -> Response:
    params = await read_params(request)
    account = await authenticate(request, params)
    tz = zone_of(account)
    found = [_mobile(d, tz) for d in await lookup_services(request).devices.of_account(account.id)]
    sid = params.get("sid")
    if sid:
        found = [m for m in found if m.sid == sid]
    needle = (params.get("search") or "").lower()
    if needle:
        found = [m for m in found if needle in _shown(m)]
    return JSONResponse(MobilesOut(result=MobilesResult(mobiles=found)).model_dump())


@at(router, "gateway/mobile/update")
async def update_mobile(request: Request) -> Response:
    params = await read_params(request)
    account = await authenticate(request, params)
    sid = params.require("sid")
    if not params.has("label"):
        # Required, but may be empty (seed 003: "label=").
        raise InvalidRequest("Missing required parameter: label")
    phone = params.get("phone_number") if params.has("phone_number") else None
    device = await lookup_services(request).devices.set_labels(
        account.id, sid, label=params.get("label") or "", phone_number=phone
    )
    return JSONResponse(
        {
            "result": {
                "error": "0",
                "sid": device.id,
                "label": device.label or "",
                "phone_number": device.phone_number or "",
            }
        }
    )


@at(router, "gateway/mobile/delete")
async def delete_mobile(request: Request) -> Response:
    params = await read_params(request)
    account = await authenticate(request, params)
    sid = params.require("sid")
    await lookup_services(request).devices.delete(account.id, sid)
    return JSONResponse({"result": {"error": "0", "sid": sid, "deleted": "1"}})


@at(router, "webhook/add")
async def add_webhook(request: Request) -> Response:
    """textgate's own: the received-SMS webhook the provider sets in its dashboard, posted in
    the seed's payload shape (``date``, ``hour``, ``time_received``, ``message``, ``number``,
    ``guid``) through the durable webhook queue. The signing secret is shown here only."""
    params = await read_params(request)
    account = await authenticate(request, params)
    hook = await lookup_services(request).webhooks.create(
        account.id, params.require("url"), [INBOUND_RECEIVED], None, format=FORMAT
    )
    return JSONResponse(
        {"result": {"error": "0", "id": hook.id, "url": hook.url, "secret": hook.secret}},
        headers=NO_STORE,
    )


@at(router, "webhook/delete")
async def delete_webhook(request: Request) -> Response:
    params = await read_params(request)
    account = await authenticate(request, params)
    webhook_id = params.require("id")
    await lookup_services(request).webhooks.delete(account.id, webhook_id)
    return JSONResponse({"result": {"error": "0", "id": webhook_id, "deleted": "1"}})


@at(oauth_router, "oauth2/token", response_model=TokenOut)
async def token(request: Request) -> Response:
    params = await read_params(request)
    # Client credentials in HTTP Basic (RFC 6749 section 2.3.1), if sent that way.
    basic = basic_credentials(request.headers.get("authorization"))
    client_id, secret = basic or (params.get("client_id") or "", params.get("client_secret") or "")
    issued = await lookup_services(request).oauth.issue(
        params.get("grant_type") or "", client_id, secret, client_ip=client_ip(request)
    )
    out = TokenOut(access_token=issued.access_token, expires_in=issued.expires_in)
    return JSONResponse(out.model_dump(), headers=NO_STORE)


@at(oauth_router, "oauth2/clients", methods=("POST",))
async def new_client(request: Request) -> Response:
    """textgate's own: make a client id and secret for the account (the secret is shown
    here only)."""
    params = await read_params(request)
    account = await authenticate(request, params)
    made = await lookup_services(request).oauth.create_client(account.id)
    return JSONResponse(
        {"client_id": made.client_id, "client_secret": made.client_secret},
        status_code=201,
        headers=NO_STORE,
    )
