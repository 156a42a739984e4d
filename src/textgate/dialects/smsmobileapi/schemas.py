"""SMSmobileAPI response bodies, with the field names and value types the seed (003) shows:
``"error": 0`` a number in the send answer but ``"0"`` a string elsewhere, ``"sent": "1"``
a string, ``port`` a number or null, and so on. Times: ``datetime`` in UTC with ``Z``,
local fields in the account's time zone, ``timearea`` like ``UTC+01``."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel

__all__ = [
    "ConversationMessage",
    "ConversationOut",
    "ConversationsOut",
    "DeleteOut",
    "DeleteResult",
    "Encrypted",
    "MobileOut",
    "MobilesOut",
    "MobilesResult",
    "PhoneSentLine",
    "PhoneSentOut",
    "PhoneSentResult",
    "ReceivedLine",
    "ReceivedOut",
    "ReceivedResult",
    "ResendOut",
    "ResendResult",
    "SendOut",
    "SendResult",
    "SentLine",
    "SentOut",
    "SentResult",
    "TokenOut",
    "TrialAccount",
    "day",
    "hour",
    "iso_local",
    "iso_utc",
    "timearea",
]


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds")


def day(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d")


def hour(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M:%S")


def timearea(moment: datetime, tz: ZoneInfo) -> str:
    """``UTC+01`` (``UTC+05:30`` for zones off the hour)."""
    offset = moment.astimezone(tz).utcoffset()
    minutes = 0 if offset is None else int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}" + (f":{rest:02d}" if rest else "")


class Encrypted(BaseModel):
    status: str
    key: str | None = None
    """textgate: the key the recipient needs (only when ``status`` is "1")."""
    url: str | None = None


class TrialAccount(BaseModel):
    status: str = "0"
    sms_sent: int = 0


class SendResult(BaseModel):
    error: int = 0
    sent: str
    id: str
    note: str
    datetime: str
    datetimeLocal: str
    port: int | None
    iac_control: str = "1"
    iac_authorized: str = "1"
    send_with_whatsapp: str = "0"
    encrypted: Encrypted
    trial_account: TrialAccount


class SendOut(BaseModel):
    result: SendResult


class ResendResult(BaseModel):
    error: str = "0"
    sms: str = "resent with successfully"
    attempt: int


class ResendOut(BaseModel):
    result: ResendResult


class SentLine(BaseModel):
    sIdentifiantPhone: str
    port: int
    date_add: str
    hour_add: str
    timestamp: int
    send_from_mobile: int
    send_from_mobile_date: str
    send_from_mobile_heure: str
    send_from_mobile_timestamp: int
    recipients: str
    sms: str
    error_api: str
    send_from_mobile_erreur: str
    guid_message: str
    timearea: str
    date_add_server: str
    hour_add_server: str
    timestamp_server: int
    send_from_mobile_date_server: str
    send_from_mobile_heure_server: str


class SentResult(BaseModel):
    error: str = "0"
    sms: list[SentLine]


class SentOut(BaseModel):
    result: SentResult


class PhoneSentLine(BaseModel):
    sIdentifiant: str
    number: str
    message: str
    mobile_date_ms: int
    mobile_date_formatted: str
    synchro_time: str


class PhoneSentResult(BaseModel):
    error: str = "0"
    count: int
    limit: int
    history_limit_days: int
    sort_by: str
    sort_order: str
    sms: list[PhoneSentLine]


class PhoneSentOut(BaseModel):
    result: PhoneSentResult


class ReceivedLine(BaseModel):
    id: str
    """The seed shows a number; textgate's ids are strings (the guid is the same value)."""
    sIdentifiantPhone: str
    date: str
    hour: str
    timestamp_unix: int
    time_received: str
    indice: str
    message: str
    number: str
    guid: str
    alias: str | None
    apikey: str


class ReceivedResult(BaseModel):
    error: str = ""
    sms: list[ReceivedLine]


class ReceivedOut(BaseModel):
    result: ReceivedResult


class DeleteResult(BaseModel):
    error: None = None
    count_delete: int


class DeleteOut(BaseModel):
    result: DeleteResult


class ConversationMessage(BaseModel):
    direction: str
    message_id: str
    date: str
    timestamp_utc: str
    message: str
    status: str
    mobile_sid: str | None


class ConversationOut(BaseModel):
    phone_number: str
    contact_alias: str | None
    messages: list[ConversationMessage]


class ConversationsOut(BaseModel):
    success: bool = True
    origineConversation: str
    resume: int
    resume_line_how: int | None
    conversations: list[ConversationOut]


class MobileOut(BaseModel):
    sid: str
    sIdentifiant_pour_check: str
    label: str
    nom_reference: str
    phone_number: str
    name: str
    date_add: str
    date_last_seen: str
    timestamp_last_seen: int
    battery: int | None = None
    version: str | None = None
    sims: list[int]
    pending: int


class MobilesResult(BaseModel):
    error: str = "0"
    mobiles: list[MobileOut]


class MobilesOut(BaseModel):
    result: MobilesResult


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the token type word, not a secret
    expires_in: int
