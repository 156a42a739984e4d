"""An account's Android phones (the SMSGate app used as a modem): label, number, SIMs, what
they still have to send; rename or remove them."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from textgate.dashboard.routing import dashboard_of, new_router
from textgate.dashboard.web import PREFIX, redirect
from textgate.errors import GatewayError, InvalidRequest

__all__ = ["router"]

router = new_router()


@router.get("/devices")
async def devices(request: Request) -> Response:
    dash = dashboard_of(request)
    viewer = await dash.viewer(request)
    if viewer.account is None:
        raise InvalidRequest("this page belongs to an account; sign in with its login")
    found = await dash.services.devices.of_account(viewer.account.id)
    return dash.page(request, "devices.html", viewer, devices=found)


@router.post("/devices/{device_id}")
async def update_device(request: Request, device_id: str) -> Response:
    dash = dashboard_of(request)
    viewer = await dash.viewer(request)
    if viewer.account is None:
        raise InvalidRequest("this page belongs to an account; sign in with its login")
    form = await dash.form(request, viewer.csrf)
    try:
        if form.get("action") == "delete":
            await dash.services.devices.delete(viewer.account.id, device_id)
        else:
            await dash.services.devices.set_labels(
                viewer.account.id,
                device_id,
                label=form.get("label", "").strip()[:100],
                phone_number=form.get("phone_number", "").strip(),
            )
    except GatewayError as exc:
        found = await dash.services.devices.of_account(viewer.account.id)
        return dash.page(
            request, "devices.html", viewer, devices=found, error=exc.message, status_code=400
        )
    return redirect(f"{PREFIX}/devices")
