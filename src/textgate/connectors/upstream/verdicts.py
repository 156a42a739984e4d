"""What a provider's error code means for the message, for providers whose modules keep a
table of their documented codes (``twilio``, ``vonage``): the four ways the delivery
contract can read a refusal.
"""

from __future__ import annotations

from enum import Enum

import httpx

from textgate.connectors.upstream.provider import auth_refused
from textgate.connectors.upstream.replies import Reply, Throttle, retry_after
from textgate.errors import ConnectorError

__all__ = ["Verdict", "reply_for"]


class Verdict(Enum):
    THROTTLED = "throttled"
    """Sending too fast: a pause, the message waits, no attempt used."""
    CREDENTIALS = "credentials"
    """The account or its credentials are refused: the message waits (no attempt used)
    and the link shows auth_refused until the provider takes a request again."""
    RETRYABLE = "retryable"
    """Refused now, may pass later (credit, a passing fault): an attempt."""
    FINAL = "final"
    """Refused for good (the number, the text, the sender): failed."""


def reply_for(verdict: Verdict, detail: str, code: str, response: httpx.Response) -> Reply:
    """The reply a refusal with this verdict is (``detail`` names the provider)."""
    if verdict is Verdict.THROTTLED:
        return Throttle(retry_after(response), response.status_code)
    if verdict is Verdict.CREDENTIALS:
        return auth_refused(detail)
    return ConnectorError(detail, retryable=verdict is Verdict.RETRYABLE, code=code)
