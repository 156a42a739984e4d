"""Native API: the account's phones (``/v1/devices``) and cancelling a message on a phone."""

from __future__ import annotations

from datetime import datetime

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field

from textgate.core.devices import Device
from textgate.dialects.native.routes import AccountDep, ServicesDep, native_router

__all__ = ["router"]

router = native_router("/v1/devices")


class SimCardOut(BaseModel):
    slot_index: int | None
    sim_number: int | None
    phone_number: str | None = Field(description="As the app reports it (often redacted)")
    carrier_name: str | None


class DeviceOut(BaseModel):
    id: str
    name: str = Field(description="What the phone calls itself (manufacturer/product)")
    label: str | None
    phone_number: str | None = Field(
        description="Set by you; a message whose sender is this number goes through this phone"
    )
    sim_cards: list[SimCardOut]
    push: bool = Field(description="Registered for push notifications (else event stream)")
    connected: bool = Field(description="Has its event stream open to this server")
    last_seen: datetime
    created_at: datetime
    pending: int = Field(description="Messages handed to the phone, not reported on yet")

    @classmethod
    def of(cls, d: Device, connected: frozenset[str]) -> DeviceOut:
        return cls(
            id=d.id,
            name=d.name,
            label=d.label,
            phone_number=d.phone_number,
            sim_cards=[
                SimCardOut(
                    slot_index=s.slot_index,
                    sim_number=s.sim_number,
                    phone_number=s.phone_number,
                    carrier_name=s.carrier_name,
                )
                for s in d.sim_cards
            ],
            push=d.push_token is not None,
            connected=d.id in connected,
            last_seen=d.last_seen_at,
            created_at=d.created_at,
            pending=d.pending,
        )


class DeviceList(BaseModel):
    data: list[DeviceOut]


class DevicePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, max_length=100, description='"" clears it')
    phone_number: str | None = Field(default=None, max_length=32, description='"" clears it')


class CancellingOut(BaseModel):
    message_id: str
    device_id: str
    status: str = Field(
        default="cancelling", description="The message is cancelled once the phone confirms"
    )


class RefreshOut(BaseModel):
    connected: bool


@router.get("", response_model=DeviceList)
async def list_devices(account: AccountDep, services: ServicesDep) -> DeviceList:
    connected = services.devices.hub.connected()
    found = await services.devices.of_account(account.id)
    return DeviceList(data=[DeviceOut.of(d, connected) for d in found])


@router.get("/{device_id}", response_model=DeviceOut)
async def get_device(device_id: str, account: AccountDep, services: ServicesDep) -> DeviceOut:
    found = await services.devices.get(account.id, device_id)
    return DeviceOut.of(found, services.devices.hub.connected())


@router.patch("/{device_id}", response_model=DeviceOut)
async def label_device(
    device_id: str, body: DevicePatch, account: AccountDep, services: ServicesDep
) -> DeviceOut:
    found = await services.devices.set_labels(
        account.id, device_id, label=body.label, phone_number=body.phone_number
    )
    return DeviceOut.of(found, services.devices.hub.connected())


@router.delete("/{device_id}", status_code=204)
async def delete_device(device_id: str, account: AccountDep, services: ServicesDep) -> Response:
    """Forget the phone: its token stops working; messages it has not picked up fail over."""
    await services.devices.delete(account.id, device_id)
    return Response(status_code=204)


@router.post("/{device_id}/refresh", response_model=RefreshOut)
async def refresh_device(device_id: str, account: AccountDep, services: ServicesDep) -> RefreshOut:
    """Make the phone fetch its webhooks and settings again (WebhooksUpdated, SettingsUpdated)."""
    return RefreshOut(connected=await services.devices.refresh(account.id, device_id))


@router.delete("/messages/{message_id}", status_code=202, response_model=CancellingOut)
async def cancel_on_phone(
    message_id: str, account: AccountDep, services: ServicesDep
) -> CancellingOut:
    """Cancel a message a phone has been given but not started on (409 once it has)."""
    device_id = await services.devices.cancel(account.id, message_id)
    return CancellingOut(message_id=message_id, device_id=device_id)
