"""The device API's routes (spec section 2), mounted under ``android.prefix``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import TypeAdapter, ValidationError

from textgate.core.devices import Device, format_app_date, parse_app_date
from textgate.core.inbound import InboundMessage
from textgate.dialects.android.errors import render_error
from textgate.dialects.android.events import event_frames
from textgate.dialects.android.schemas import (
    DeviceUpdateIn,
    PasswordChangeIn,
    PatchItemIn,
    ReceivedIn,
    ReceivedPayload,
    RegisterIn,
    RegisterOut,
    message_out,
)
from textgate.dialects.base import (
    basic_credentials,
    bearer_token,
    client_ip,
    error_route_class,
    input_error,
    read_body,
    read_json,
    services_of,
    validation_message,
)
from textgate.errors import AuthenticationFailed, InvalidRequest
from textgate.services.devices import INBOUND_CONNECTOR, DeviceService, RegistrationAuth

__all__ = ["RECEIVED_PATH", "build_router"]

RECEIVED_PATH = "/received"
"""Where phones post their ``sms:received`` webhooks (``<prefix>/received/<device id>``)."""
SMS_RECEIVED = "sms:received"
_PATCH_ITEMS = TypeAdapter(list[PatchItemIn])
MAX_BODY_BYTES = 1024 * 1024
"""Far above what a phone sends (state reports, one received SMS per webhook)."""
MAX_WEBHOOK_BYTES = 64 * 1024
"""A signed webhook carries one received SMS (a few hundred bytes); anyone may post one, so
what is read before its signature is checked stays small."""


async def device_service(request: Request) -> DeviceService:
    return (await services_of(request)).devices


DevicesDep = Annotated[DeviceService, Depends(device_service)]


async def current_device(
    devices: DevicesDep, authorization: Annotated[str | None, Header()] = None
) -> Device:
    return await devices.authenticate(bearer_token(authorization))


DeviceDep = Annotated[Device, Depends(current_device)]


def _registration_auth(request: Request, authorization: str | None) -> RegistrationAuth:
    """Bearer private token or Basic login (spec section 1; one-time codes are not offered)."""
    token = bearer_token(authorization)
    if token is not None:
        return RegistrationAuth(private_token=token)
    basic = basic_credentials(authorization)
    if basic is not None:
        return RegistrationAuth(login=basic[0], password=basic[1], client_ip=client_ip(request))
    raise AuthenticationFailed("send the private token as 'Authorization: Bearer <token>'")


class DeviceApiSettings(Protocol):
    """What the routes read of the device API's settings (``android`` in the configuration)."""

    @property
    def prefix(self) -> str: ...
    @property
    def public_url(self) -> str | None: ...
    @property
    def keepalive_seconds(self) -> float: ...
    @property
    def stream_max_seconds(self) -> float: ...
    @property
    def notification_channel(self) -> str | None: ...


def build_router(settings: DeviceApiSettings) -> APIRouter:
    router = APIRouter(
        prefix=settings.prefix,
        tags=["android devices"],
        route_class=error_route_class(render_error),
    )

    @router.post("/device", status_code=201, response_model=RegisterOut)
    async def register(
        request: Request,
        body: RegisterIn,
        devices: DevicesDep,
        authorization: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        done = await devices.register(
            _registration_auth(request, authorization),
            body.name,
            push_token=body.pushToken,
            sim_cards=[s.to_core() for s in body.simCards or []],
        )
        out = RegisterOut(
            id=done.device.id, token=done.token, login=done.login, password=done.password
        )
        return JSONResponse(out.model_dump(exclude_none=True), status_code=201)

    @router.patch("/device", status_code=204)
    async def update_device(
        body: DeviceUpdateIn, device: DeviceDep, devices: DevicesDep
    ) -> Response:
        sims = None if body.simCards is None else [s.to_core() for s in body.simCards]
        await devices.update(device, body.id, push_token=body.pushToken, sim_cards=sims)
        return Response(status_code=204)

    @router.get("/device")
    async def get_device(
        request: Request, devices: DevicesDep, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        """The caller's address (the app reads only ``externalIp``); auth is optional."""
        body: dict[str, Any] = {"externalIp": client_ip(request)}
        token = bearer_token(authorization)
        if token:
            try:
                d = await devices.authenticate(token)
            except AuthenticationFailed:
                return body
            body["device"] = {
                "id": d.id,
                "name": d.name,
                "createdAt": format_app_date(d.created_at),
                "updatedAt": format_app_date(d.updated_at),
                "lastSeen": format_app_date(d.last_seen_at),
            }
        return body

    # The vendor also answers /messages for /message (spec section 2).
    @router.get("/messages", include_in_schema=False)
    @router.get("/message")
    async def pending_messages(
        device: DeviceDep,
        devices: DevicesDep,
        order: Annotated[Literal["lifo", "fifo"], Query()] = "lifo",
    ) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        found = await devices.pull(device, fifo=order == "fifo")
        return [message_out(m, now) for m in found]

    @router.patch("/messages", status_code=204, include_in_schema=False)
    @router.patch("/message", status_code=204)
    async def report_states(request: Request, device: DeviceDep, devices: DevicesDep) -> Response:
        try:
            items = _PATCH_ITEMS.validate_python(await read_json(request, MAX_BODY_BYTES))
        except ValidationError as exc:
            raise InvalidRequest(validation_message(exc)) from exc
        await devices.report(device, [i.to_core() for i in items])
        return Response(status_code=204)

    @router.get("/webhooks")
    async def webhooks(request: Request, device: DeviceDep) -> list[dict[str, Any]]:
        """textgate's own receiver, so that the SMS the phone receives reach the inbox."""
        base = (settings.public_url or str(request.base_url)).rstrip("/")
        return [
            {
                "id": f"textgate-{device.id}",
                "deviceId": device.id,
                "url": f"{base}{settings.prefix}{RECEIVED_PATH}/{device.id}",
                "event": SMS_RECEIVED,
            }
        ]

    @router.get("/settings")
    async def device_settings(device: DeviceDep, devices: DevicesDep) -> dict[str, Any]:
        # Never "cloud_url": null, which sends the app back to the vendor (spec section 2).
        body: dict[str, Any] = {"webhooks": {"signing_key": await devices.signing_key(device.id)}}
        if settings.notification_channel:
            body["gateway"] = {"notification_channel": settings.notification_channel}
        return body

    @router.get("/events")
    async def events(device: DeviceDep, devices: DevicesDep) -> StreamingResponse:
        frames = event_frames(
            devices,
            device,
            keepalive_seconds=settings.keepalive_seconds,
            max_seconds=settings.stream_max_seconds,
        )
        return StreamingResponse(
            frames,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.get("/user/code", status_code=501)
    async def login_code() -> Response:
        """Sign-in codes are not offered (register with the private token or a login)."""
        return render_error_501()

    @router.patch("/user/password", status_code=204)
    async def change_password(
        body: PasswordChangeIn, device: DeviceDep, devices: DevicesDep
    ) -> Response:
        await devices.change_password(device, body.currentPassword, body.newPassword)
        return Response(status_code=204)

    @router.post(RECEIVED_PATH + "/{device_id}", status_code=204)
    async def received(
        device_id: str,
        request: Request,
        devices: DevicesDep,
        x_timestamp: Annotated[str | None, Header()] = None,
        x_signature: Annotated[str | None, Header()] = None,
    ) -> Response:
        """A webhook from the phone, signed with the key it got from GET /settings. The body
        is read only once the headers and the device check out, and only so far."""
        device, raw = await devices.check_signature(
            device_id,
            lambda: read_body(request, MAX_WEBHOOK_BYTES),
            x_timestamp,
            x_signature,
        )
        try:
            hook = ReceivedIn.model_validate_json(raw)
            if hook.event != SMS_RECEIVED:
                return Response(status_code=204)  # not subscribed to; nothing to keep
            payload = ReceivedPayload.model_validate(hook.payload)
        except ValidationError as exc:
            raise input_error(exc) from exc
        await devices.receive(device, [_inbound(device, payload)])
        return Response(status_code=204)

    return router


def render_error_501() -> Response:
    return JSONResponse({"message": "not implemented"}, status_code=501)


def _inbound(device: Device, p: ReceivedPayload) -> InboundMessage:
    received_at = parse_app_date(p.receivedAt) or datetime.now(UTC)
    # No recipient when the app cannot read the SIM's number: the phone's own number as
    # registered, else the phone itself. Never ``phoneNumber``: the app's older name for the
    # sender ([A] payload/SmsEventPayload), which made an SMS look sent to its sender.
    recipient = p.recipient or device.phone_number or device.id
    return InboundMessage(
        connector=INBOUND_CONNECTOR,
        sender=p.sender,
        recipient=recipient,
        text=p.message,
        received_at=received_at,
        # The app's message id is a hash of the content: with the device it names one SMS.
        external_id=f"{device.id}:{p.messageId}"[:128],
    )
