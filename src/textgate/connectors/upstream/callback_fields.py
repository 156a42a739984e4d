"""What the provider modules that read their own callbacks share (``twilio``, ``vonage``):
the URL a provider is given, the fields of a callback, numbers as providers write them.
"""

from __future__ import annotations

import json
from typing import Final
from urllib.parse import parse_qsl

from textgate.connectors.callbacks import CallbackRefused, CallbackRequest

__all__ = ["FORM", "callback_url", "check_base_url", "fields", "form_fields", "international"]

FORM: Final = "application/x-www-form-urlencoded"


def check_base_url(value: str | None) -> str | None:
    """An http(s) base URL without its trailing slash (None stays None)."""
    if value is None:
        return None
    if not value.startswith(("http://", "https://")):
        raise ValueError("allowed: an http:// or https:// URL")
    return value.rstrip("/")


def callback_url(base: str | None, connector: str, token: str, kind: str) -> str | None:
    """The connector's callback URL of ``kind`` under the public base URL (None: no base,
    so no URL to give the provider)."""
    if base is None:
        return None
    return f"{base}/callbacks/{connector}/{token}/{kind}"


def form_fields(request: CallbackRequest) -> list[tuple[str, str]]:
    """The fields of a form-encoded body, in order, blank ones kept (a signature covers
    them all)."""
    try:
        return parse_qsl(request.body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        raise CallbackRefused("the callback body is not text") from None


def fields(request: CallbackRequest) -> dict[str, str]:
    """The query string's fields, then the body's (a form, or a flat JSON object) over
    them: providers send the same callback by GET, by form POST or as JSON."""
    found = dict(request.query)
    body = request.body.strip()
    if not body:
        return found
    if "json" in request.headers.get("content-type", "") or body[:1] == b"{":
        try:
            data = json.loads(body)
        except ValueError:
            raise CallbackRefused("the callback body is not JSON") from None
        if not isinstance(data, dict):
            raise CallbackRefused("the callback body is not a JSON object")
        found.update({k: _text(v) for k, v in data.items() if v is not None})
        return found
    found.update(form_fields(request))
    return found


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def international(number: str) -> str:
    """E.164 with '+' for numbers written as digits (with or without 00); other senders
    (alphanumeric) as they are."""
    value = number.strip().replace(" ", "")
    if value.startswith("00") and value[2:].isdigit():
        return "+" + value[2:]
    return "+" + value if value.isdigit() else value
