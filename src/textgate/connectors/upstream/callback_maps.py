"""How the generic HTTP connector reads the callbacks a provider pushes, from a mapping in
its options: which field holds what (a JSON path, or a form or query-string field's name).

- ``status`` callbacks (:class:`StatusCallback`): the provider's id of the message and its
  status word, mapped to textgate's statuses; a word the mapping leaves out is answered
  and changes nothing (providers report states textgate has no use for).
- ``inbound`` callbacks (:class:`InboundCallback`): a message a handset sent to one of the
  account's numbers. Numbers written as digits only are taken as international (the form
  providers' callbacks use) and get a '+'.
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, field_validator

from textgate.connectors.callbacks import CallbackAnswer, CallbackRefused, CallbackRequest
from textgate.connectors.upstream.templates import json_at, parse_path
from textgate.core.clock import from_ms, system_clock
from textgate.core.inbound import InboundMessage
from textgate.core.message import DeliveryReport, Status

__all__ = [
    "INBOUND_KIND",
    "STATUS_KIND",
    "InboundCallback",
    "StatusCallback",
    "read_inbound",
    "read_status",
]

STATUS_KIND: Final = "status"
INBOUND_KIND: Final = "inbound"
ReportStatus = Literal["sent", "buffered", "delivered", "undelivered", "expired", "failed"]


def _checked_path(value: str | None) -> str | None:
    if value is not None:
        parse_path(value)
    return value


class StatusCallback(BaseModel):
    """How to read the provider's status callbacks (``.../status``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id_field: str = Field(min_length=1)
    status_field: str = Field(min_length=1)
    statuses: dict[str, ReportStatus] = Field(min_length=1)
    """The provider's status words (any case) -> textgate's; other words are ignored."""
    error_field: str | None = None
    answer: str = "OK"

    _paths = field_validator("id_field", "status_field", "error_field")(_checked_path)


class InboundCallback(BaseModel):
    """How to read the provider's inbound-message callbacks (``.../inbound``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_field: str = Field(min_length=1)
    to_field: str = Field(min_length=1)
    text_field: str = Field(min_length=1)
    id_field: str | None = None
    answer: str = "OK"

    _paths = field_validator("from_field", "to_field", "text_field", "id_field")(_checked_path)


def read_status(spec: StatusCallback, connector: str, request: CallbackRequest) -> CallbackAnswer:
    fields = _fields(request)
    external_id = _text(fields, spec.id_field)
    if not external_id:
        raise CallbackRefused(f"no {spec.id_field} in the callback")
    word = _text(fields, spec.status_field)
    status = {k.lower(): v for k, v in spec.statuses.items()}.get((word or "").lower())
    if status is None:  # a word the mapping leaves out: nothing to record
        return CallbackAnswer(body=spec.answer)
    error = _text(fields, spec.error_field)
    report = DeliveryReport(
        connector=connector,
        external_id=external_id,
        status=Status(status),
        at=from_ms(system_clock()),
        error_code=error[:64] if error else None,
    )
    return CallbackAnswer(reports=(report,), body=spec.answer)


def read_inbound(spec: InboundCallback, connector: str, request: CallbackRequest) -> CallbackAnswer:
    fields = _fields(request)
    sender, recipient = _text(fields, spec.from_field), _text(fields, spec.to_field)
    text = _text(fields, spec.text_field)
    if not sender or not recipient or text is None:
        raise CallbackRefused(
            f"an inbound callback needs {spec.from_field}, {spec.to_field} and {spec.text_field}"
        )
    message = InboundMessage(
        connector=connector,
        sender=_number(sender),
        recipient=_number(recipient),
        text=text,
        received_at=from_ms(system_clock()),
        external_id=_text(fields, spec.id_field) or None,
    )
    return CallbackAnswer(inbound=(message,), body=spec.answer)


def _number(value: str) -> str:
    digits = value.strip().replace(" ", "")
    if digits.startswith("00") and digits[2:].isdigit():
        return "+" + digits[2:]
    return "+" + digits if digits.isdigit() else digits


def _fields(request: CallbackRequest) -> Any:
    """The callback's data: its JSON body, else its form body and query string merged."""
    body = request.body.strip()
    kind = request.headers.get("content-type", "")
    if "json" in kind or body[:1] in (b"{", b"["):
        try:
            return json.loads(body)
        except ValueError:
            raise CallbackRefused("the callback body is not JSON") from None
    fields = dict(request.query)
    try:
        fields.update(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        raise CallbackRefused("the callback body is not text") from None
    return fields


def _text(data: Any, path: str | None) -> str | None:
    """The value at ``path`` as text (None if missing, or not a plain value)."""
    if path is None:
        return None
    value = (
        data[path] if isinstance(data, dict) and path in data else json_at(data, parse_path(path))
    )
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)
