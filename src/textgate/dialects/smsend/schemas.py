"""Wire shapes of the smsend / Skebby "SMS REST API v1.0" (seed 001 and
shared/specs/dialects.md, section "smsend / Skebby"): the provider's field names live here only."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from textgate.core.message import Quality
from textgate.errors import InvalidRequest

__all__ = [
    "QUALITY_BY_TYPE",
    "TYPE_BY_QUALITY",
    "HistoryLine",
    "HistoryOut",
    "MoHistoryOut",
    "MoLine",
    "OrderStateOut",
    "RecipientState",
    "SendSmsIn",
    "SendSmsOut",
    "SmsAllowance",
    "StatusOut",
    "format_time",
    "parse_time",
]

# message_type: smsend's N/L/LL (seed 001: MESSAGE_HIGH/MEDIUM/LOW_QUALITY) and Skebby's
# GP/TI/SI for the same three classes (dialects.md).
QUALITY_BY_TYPE: dict[str, Quality] = {
    "N": Quality.HIGH,
    "L": Quality.MEDIUM,
    "LL": Quality.LOW,
    "GP": Quality.HIGH,
    "TI": Quality.MEDIUM,
    "SI": Quality.LOW,
}
TYPE_BY_QUALITY: dict[Quality, str] = {Quality.HIGH: "N", Quality.MEDIUM: "L", Quality.LOW: "LL"}
ALIAS_BY_QUALITY: dict[Quality, str] = {
    Quality.HIGH: "GP",
    Quality.MEDIUM: "TI",
    Quality.LOW: "SI",
}


class SendSmsIn(BaseModel):
    """``POST sms``. Fields the gateway has no use for (landing pages, short links, campaign
    names) are accepted and ignored, as are unknown ones: clients send their whole object."""

    model_config = ConfigDict(extra="ignore")

    message: str
    message_type: str
    recipient: list[str]
    sender: str | None = None
    scheduled_delivery_time: str | int | None = None
    scheduled_delivery_timezone: str | None = None
    order_id: str | int | None = None
    returnCredits: bool = False
    returnRemaining: bool = False
    allowInvalidRecipients: bool = False
    encoding: str | None = None

    @field_validator("recipient", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | int) else value

    @field_validator("recipient", mode="after")
    @classmethod
    def _strings(cls, value: list[Any]) -> list[str]:
        return [str(v) for v in value]

    def quality(self) -> Quality:
        found = QUALITY_BY_TYPE.get(self.message_type.strip().upper())
        if found is None:
            raise InvalidRequest(
                f"message_type {self.message_type!r} is none of N, L, LL, GP, TI, SI"
            )
        return found

    def client_order_id(self) -> str | None:
        if self.order_id is None or str(self.order_id) == "":
            return None
        return str(self.order_id)

    def gsm_or_ucs2(self) -> str | None:
        if self.encoding is None or self.encoding == "":
            return None
        value = self.encoding.strip().lower()
        if value not in ("gsm", "ucs2"):
            raise InvalidRequest("encoding is 'gsm' or 'ucs2'")
        return value


class SendSmsOut(BaseModel):
    result: str = "OK"
    order_id: str
    total_sent: int
    """Messages accepted; with returnCredits, the credits (SMS parts) they use."""
    remaining_credits: int
    """Whole credits left on the account."""
    internal_order_id: str
    remaining_messages: int | None = None
    """With returnRemaining: one-part messages the account may still send."""


class RecipientState(BaseModel):
    destination: str
    status: str
    delivery_date: str | None = None
    message_type: str | None = None
    quality: str | None = None
    sender: str | None = None
    error_code: str | None = None


class OrderStateOut(BaseModel):
    result: str = "OK"
    order_id: str
    internal_order_id: str
    recipient_number: int
    recipients: list[RecipientState]


class SmsAllowance(BaseModel):
    type: str
    quantity: int


class StatusOut(BaseModel):
    money: float | None = None
    sms: list[SmsAllowance]
    email: None = None
    landing: None = None


class HistoryLine(BaseModel):
    order_id: str
    internal_order_id: str
    create_time: str
    schedule_time: str | None = None
    message_type: str | None = None
    sender: str | None = None
    num_recipients: int


class HistoryOut(BaseModel):
    total: int
    pageNumber: int
    pageSize: int
    smshistory: list[HistoryLine] = Field(default_factory=list)


class MoLine(BaseModel):
    """One received (MO) message. The provider documents no field names for these lines;
    these are textgate's, in the style of its other answers."""

    id: str
    type: str
    sender: str
    recipient: str
    message: str
    received_time: str


class MoHistoryOut(BaseModel):
    total: int
    pageNumber: int
    pageSize: int
    mosmshistory: list[MoLine] = Field(default_factory=list)


# scheduled_delivery_time as clients send it: the documented compact forms, "yyyy-MM-dd
# HH:mm[.0]", ISO-8601 (the seed's Python and C# examples), and Gson's default rendering
# of java.util.Date (the seed's Java example: "Aug 18, 2017 1:31:00 PM").
_COMPACT = {
    6: "%d%m%y",
    8: "%Y%m%d",
    10: "%d%m%y%H%M",
    12: "%Y%m%d%H%M",
    14: "%Y%m%d%H%M%S",
}
_TEXT_FORMATS = (
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%b %d, %Y %I:%M:%S %p",
    "%b %d, %Y, %I:%M:%S %p",
)
_FRACTION = re.compile(r"\.0+$")


def zone(name: str | None, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidRequest(f"unknown time zone {name!r}") from exc


def parse_time(value: str | int, tz: ZoneInfo) -> datetime:
    """A client's date; one without an offset is in ``tz``."""
    text = str(value).strip().replace("\u202f", " ")
    parsed: datetime | None = None
    if text.isdigit() and len(text) in _COMPACT:
        parsed = _try(text, _COMPACT[len(text)])
    if parsed is None:
        text = _FRACTION.sub("", text)
        for fmt in _TEXT_FORMATS:
            parsed = _try(text, fmt)
            if parsed is not None:
                break
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidRequest(f"not a date: {text!r}") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def _try(text: str, fmt: str) -> datetime | None:
    try:
        return datetime.strptime(text, fmt)
    except ValueError:
        return None


def format_time(moment: datetime | None, tz: ZoneInfo) -> str | None:
    """yyyyMMddHHmmss, the provider's date form, in the account's time zone."""
    return None if moment is None else moment.astimezone(tz).strftime("%Y%m%d%H%M%S")
