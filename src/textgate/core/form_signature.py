"""Twilio's webhook signature ("Webhooks security", Validating signatures; twilio.com/docs/
usage/webhooks/webhooks-security): ``X-Twilio-Signature`` is the base64 of the HMAC-SHA1,
keyed with the account's Auth Token, of the URL as called followed by each POST
parameter's name and value, sorted by name. Checked on the callbacks Twilio sends the
Twilio connector, and made for the callbacks the Twilio dialect sends its clients."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

__all__ = ["TWILIO_SIGNATURE_HEADER", "twilio_signature"]

TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"


def twilio_signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """X-Twilio-Signature of a request to ``url`` with these POST parameters."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
