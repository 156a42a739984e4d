"""The app's JSON, field for field (spec sections 1-4). The app writes with Gson and omits
null fields; what we send omits absent optional fields the same way."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from textgate.core.devices import (
    DeviceMessage,
    PhoneReport,
    ProcessingState,
    RecipientState,
    SimCard,
    format_app_date,
    parse_app_date,
)

__all__ = [
    "DeviceUpdateIn",
    "PasswordChangeIn",
    "PatchItemIn",
    "ReceivedIn",
    "RegisterIn",
    "RegisterOut",
    "SimCardIn",
    "message_out",
]


class _AppModel(BaseModel):
    # Field names are the app's own (camelCase), so clients and phones match exactly.
    # Newer app versions may send fields this server does not know; they are ignored.
    model_config = ConfigDict(extra="ignore")


class SimCardIn(_AppModel):
    slotIndex: int | None = None
    simNumber: int | None = None
    phoneNumber: str | None = Field(default=None, max_length=64)
    carrierName: str | None = Field(default=None, max_length=128)
    iccid: str | None = Field(default=None, max_length=64)

    def to_core(self) -> SimCard:
        return SimCard(
            self.slotIndex, self.simNumber, self.phoneNumber, self.carrierName, self.iccid
        )


class RegisterIn(_AppModel):
    """POST /device ([A] DeviceRegisterRequest)."""

    name: str = Field(min_length=1, max_length=128)
    pushToken: str | None = Field(default=None, max_length=256)
    simCards: list[SimCardIn] | None = Field(default=None, max_length=8)


class RegisterOut(BaseModel):
    """201 answer of POST /device; ``password`` is omitted for a sign-in (spec section 1)."""

    id: str
    token: str
    login: str
    password: str | None = None


class DeviceUpdateIn(_AppModel):
    """PATCH /device ([C] MobileUpdateRequest)."""

    id: str = Field(min_length=1, max_length=64)
    pushToken: str | None = Field(default=None, max_length=256)
    simCards: list[SimCardIn] | None = Field(default=None, max_length=8)


class PasswordChangeIn(_AppModel):
    """PATCH /user/password (spec section 2)."""

    currentPassword: str = Field(max_length=256)
    newPassword: str = Field(max_length=256)


class RecipientIn(_AppModel):
    phoneNumber: str = Field(min_length=1, max_length=128)
    state: ProcessingState
    error: str | None = Field(default=None, max_length=1000)


class PatchItemIn(_AppModel):
    """One element of PATCH /message ([C] MobilePatchMessageItem)."""

    id: str = Field(min_length=1, max_length=36)
    state: ProcessingState
    recipients: list[RecipientIn] = Field(min_length=1, max_length=100)
    states: dict[str, str] | None = None

    def to_core(self) -> PhoneReport:
        history: list[tuple[ProcessingState, datetime]] = []
        for name, stamp in (self.states or {}).items():
            at = parse_app_date(stamp)
            if at is not None and name in ProcessingState.__members__.values():
                history.append((ProcessingState(name), at))
        return PhoneReport(
            id=self.id,
            state=self.state,
            recipients=tuple(
                RecipientState(r.phoneNumber, r.state, r.error) for r in self.recipients
            ),
            states=tuple(history),
        )


class ReceivedPayload(_AppModel):
    """``sms:received`` payload ([A] payload/SmsEventPayload)."""

    messageId: str = Field(min_length=1, max_length=100)
    message: str
    sender: str = Field(min_length=1, max_length=64)
    recipient: str | None = Field(default=None, max_length=64)
    simNumber: int | None = None
    phoneNumber: str | None = Field(default=None, max_length=64)
    """The sender again (the app's older name for it), not the phone's number."""
    receivedAt: str


class ReceivedIn(_AppModel):
    """A webhook the phone posts ([A] WebHookEventDTO)."""

    id: str = Field(max_length=100)
    webhookId: str | None = Field(default=None, max_length=100)
    event: str = Field(max_length=64)
    deviceId: str | None = Field(default=None, max_length=64)
    payload: dict[str, Any]


def message_out(m: DeviceMessage, now: datetime) -> dict[str, Any]:
    """One pending message as GET /message returns it (spec section 2): a text message,
    in ``textMessage`` and in the legacy ``message``; optional fields only when set."""
    body: dict[str, Any] = {
        "id": m.id,
        "message": m.text,
        "textMessage": {"text": m.text},
        "phoneNumbers": [m.recipient],
        "withDeliveryReport": True,
    }
    if m.sim_number is not None:
        body["simNumber"] = m.sim_number
    if m.priority:
        body["priority"] = m.priority
    if m.valid_until is not None:
        # ttl: seconds left; the app ignores it and expires by validUntil only.
        body["ttl"] = max(0, int((m.valid_until - now).total_seconds()))
        body["validUntil"] = format_app_date(m.valid_until)
    body["state"] = m.state.value
    body["createdAt"] = format_app_date(m.created_at)
    return body
