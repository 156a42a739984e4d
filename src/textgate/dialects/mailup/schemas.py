"""MailUp wire formats (seed 002). Key case varies between clients (``ListGuid``,
``ListGUID``, ``listGUID``), so bodies are read with their keys lower-cased at every level
and the models below use lower-case names."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from textgate.dialects.base import decode_json, validation_message
from textgate.dialects.ids import RowId
from textgate.errors import InvalidRequest

__all__ = [
    "NULL_INPUT",
    "MailIn",
    "NameValue",
    "SmsIn",
    "SmtpUserIn",
    "UserInfoIn",
    "envelope",
    "lower_keys",
    "parse_body",
]

M = TypeVar("M", bound=BaseModel)

NULL_INPUT = "mailup_null_input"
"""InvalidRequest code: no body, or not a JSON object (SMS code 100, SMTP+ code 101), as a
body that is not JSON at all (MalformedInput)."""


class _Model(BaseModel):
    # Numbers where strings are expected are taken as written (a Recipient sent as a JSON
    # number, a CampaignCode of digits); unknown keys are ignored (clients add their own).
    model_config = ConfigDict(coerce_numbers_to_str=True, extra="ignore")


class NameValue(_Model):
    n: str | None = None
    v: str | None = None


class SmsIn(_Model):
    """``POST /api/v2.0/sms/{account_ID}/{List_ID}`` (seed 002, "Transactional SMS
    parameters")."""

    content: str | None = None
    listguid: str | None = None
    listsecret: str | None = None
    recipient: str | None = None
    campaigncode: str | None = None
    dynamicfields: list[NameValue] | None = None
    isunicode: bool | None = None
    sender: str | None = None
    templateid: RowId | None = None

    @field_validator("isunicode", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        # 0/1 as the seed writes them, booleans, and the same as strings.
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes")
        return value

    @field_validator("templateid", mode="before")
    @classmethod
    def _template(cls, value: Any) -> Any:
        if value in ("", 0, "0"):
            return None
        return value


class EmailAddress(_Model):
    name: str | None = None
    email: str | None = None


class HtmlIn(_Model):
    doctype: str | None = None
    head: str | None = None
    body: str | None = None
    bodytag: str | None = None

    def document(self) -> str | None:
        """The whole HTML document from its parts (the body tag defaults to ``<body>``)."""
        if not self.body and not self.head:
            return None
        head = f"<head>{self.head}</head>" if self.head else ""
        tag = self.bodytag or "<body>"
        return f"{self.doctype or ''}<html>{head}{tag}{self.body or ''}</body></html>"


class MessagePart(_Model):
    filename: str | None = None
    contentid: str | None = None
    body: bytes = b""

    @field_validator("body", mode="before")
    @classmethod
    def _bytes(cls, value: Any) -> bytes:
        # "Array of Byte" (seed 002): a JSON array of numbers 0-255; .NET serialisers write
        # byte arrays as base64 strings, which are taken too.
        if value is None:
            return b""
        if isinstance(value, list):
            try:
                return bytes(value)
            except (TypeError, ValueError) as exc:
                raise ValueError("Body: an array of byte values 0-255") from exc
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError("Body: base64 or an array of bytes") from exc
        raise ValueError("Body: an array of bytes")


class SmtpUserIn(_Model):
    username: str | None = None
    secret: str | None = None


class XSmtpApi(_Model):
    campaignname: str | None = None
    campaigncode: str | None = None
    header: bool | None = None
    footer: bool | None = None
    clicktracking: bool | None = None
    viewtracking: bool | None = None
    priority: int | None = None
    schedule: datetime | None = None
    dynamicfields: list[NameValue] | None = None
    campaignreport: str | None = None
    skipdynamicfields: bool | None = None

    @field_validator("schedule", mode="before")
    @classmethod
    def _when(cls, value: Any) -> Any:
        if value in (None, ""):
            return None
        if isinstance(value, str):
            # WCF's JSON dates: "/Date(1427803924000)/" or with an offset "+0200".
            match = _WCF_DATE.match(value.strip())
            if match:
                return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)
        return value

    @field_validator("schedule")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # A time without a zone is UTC (what MailUp's own examples send).
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


_WCF_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


class MailIn(_Model):
    """SendMessage's MessageDTO and SendTemplate's TemplateDTO (seed 002)."""

    subject: str | None = None
    templateid: RowId | None = None
    html: HtmlIn | None = None
    text: str | None = None
    from_: EmailAddress | None = Field(default=None, alias="from")
    to: list[EmailAddress] | None = None
    cc: list[EmailAddress] | None = None
    bcc: list[EmailAddress] | None = None
    replyto: str | None = None
    charset: str | None = None
    extendedheaders: list[NameValue] | None = None
    attachments: list[MessagePart] | None = None
    embeddedimages: list[MessagePart] | None = None
    xsmtpapi: XSmtpApi | None = None
    user: SmtpUserIn | None = None


class UserInfoIn(_Model):
    """ListUserInfo's ListUsersDTO (seed 002)."""

    user: SmtpUserIn | None = None
    username: str | None = None


def lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


def parse_body(raw: bytes, model: type[M]) -> M:
    """The body as ``model``, whatever the Content-Type says (clients send
    ``application/json;odata=verbose``)."""
    if not raw.strip():
        raise InvalidRequest("no request body", code=NULL_INPUT)
    data = decode_json(raw)
    if not isinstance(data, dict):
        raise InvalidRequest("the body is not a JSON object", code=NULL_INPUT)
    try:
        return model.model_validate(lower_keys(data))
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc)) from exc


def envelope(
    data: Any, code: str = "0", description: str = "", state: str = "DONE"
) -> dict[str, Any]:
    """The SMS API's answer: ``{"Data", "Code", "Description", "State"}`` (seed 002), with
    ``Code`` a string."""
    return {"Data": data, "Code": code, "Description": description, "State": state}
