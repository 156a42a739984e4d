"""The table of webhook payload formats: textgate's own, the dialects', and the formats
delivered with their provider's headers instead of textgate's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import pytest

from textgate.connectors.upstream.twilio import signature as connector_signature
from textgate.core.webhook_formats import TEXTGATE, Rendered, WebhookFormats
from textgate.dialects.registry import webhook_formats
from textgate.dialects.twilio.callbacks import signature as twilio_signature


def _render(event_id: str, event_type: str, at_ms: int, data: Mapping[str, Any]) -> Rendered:
    return Rendered("x")


def _sign(secret: str, url: str, body: str) -> Mapping[str, str]:
    return {"X-Sig": secret}


def test_a_signer_belongs_to_a_declared_format_and_never_to_textgates_own() -> None:
    with pytest.raises(ValueError, match="signers of no format"):
        WebhookFormats({"mine": _render}, {"other": _sign})
    with pytest.raises(ValueError, match="textgate's own"):
        WebhookFormats({}, {TEXTGATE: _sign})
    formats = WebhookFormats({"mine": _render}, {"mine": _sign})
    assert formats.signer("mine") is _sign
    assert formats.signer(TEXTGATE) is None and formats.signer("unknown") is None


def test_the_twilio_format_is_a_signed_form_of_a_status_change() -> None:
    """What the registry declares for the twilio format: Twilio's form, signed as Twilio's
    RequestValidator checks (its documented example below)."""
    formats = webhook_formats()
    data = {"message_id": "01J0000000000000000000000A", "status": "failed", "to": "+33612345678"}
    rendered = formats.render("twilio", "evt_1", "message.failed", 0, {**data, "from": None})
    assert rendered is not None and rendered.content_type == "application/x-www-form-urlencoded"
    fields = dict(parse_qsl(rendered.body))
    assert fields["MessageStatus"] == fields["SmsStatus"] == "failed"
    assert fields["ErrorCode"] == "30008" and "From" not in fields
    signer = formats.signer("twilio")
    assert signer is not None
    url = "https://example.com/cb"
    headers = signer("token", url, rendered.body)
    expected = twilio_signature("token", url, sorted(parse_qsl(rendered.body)))
    assert headers["X-Twilio-Signature"] == expected
    # Events Twilio has no callback for are not sent to such a subscription.
    assert formats.render("twilio", "evt_2", "account.low_balance", 0, data) is None


def test_twilios_documented_signature_example() -> None:
    """The example of Twilio's "Webhooks security" page (twilio.com/docs/usage/webhooks/
    webhooks-security): this token, URL and parameters sign to this value, made by the
    dialect (its callbacks) and by the connector (what it checks) alike."""
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert connector_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
