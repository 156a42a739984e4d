"""How far a request to a provider got: the delivery contract for HTTP, written once.

A failure is classified by what the provider can have seen (DESIGN "Delivery contract"):

========================================================  ==========================
what happened                                             outcome
========================================================  ==========================
no connection (refused, DNS, connect timeout, no pooled   never handed off: waits,
connection free), or the request could not be written    no attempt used
written, then no answer (read timeout, connection lost,   in doubt (the link's
a malformed answer)                                       ``in_doubt`` policy)
429 Too Many Requests; 503 with Retry-After               throttled: never handed
                                                          off, and the connector
                                                          pauses until Retry-After
any other 5xx                                             in doubt, unless the
                                                          provider's table says
4xx                                                       the provider's table:
                                                          refused, final or not
========================================================  ==========================

RFC 9110 section 15.5.20 / RFC 6585 section 4 (429) and 15.6.4 (503): both may carry
Retry-After, in seconds or as an HTTP date (RFC 9110 section 10.2.3); a 503 that names when
to come back is a server that did not take the request.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from typing import Final

import httpx

from textgate.errors import ConnectorError

__all__ = [
    "Priced",
    "Relogin",
    "Reply",
    "Throttle",
    "common_reply",
    "retry_after",
    "transport_error",
]

TOO_MANY_REQUESTS: Final = 429
SERVICE_UNAVAILABLE: Final = 503


@dataclass(frozen=True, slots=True)
class Throttle:
    """The provider asked for a pause (``seconds``: its Retry-After, None if it named
    none). The message was not taken: it waits, and nothing is sent before the pause ends."""

    seconds: float | None
    status: int


@dataclass(frozen=True, slots=True)
class Relogin:
    """The provider no longer knows the session the request carried: log in again and
    send the message once more (the request was refused before it was looked at)."""


@dataclass(frozen=True, slots=True)
class Priced:
    """The provider took the message and said what it charged for it, in its own currency
    (all parts together)."""

    external_id: str
    price: Decimal


Reply = str | Priced | ConnectorError | Throttle | Relogin
"""What a provider made of one answer: the id it gave the message (with its price, where
the answer tells it), a failure, a pause."""


def retry_after(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds the Retry-After header asks for (a number, or an HTTP date); None when
    there is none or it cannot be read."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def common_reply(response: httpx.Response) -> Reply | None:
    """The answers every provider means the same way: throttling and server errors. None
    for the rest, which the provider's own table reads."""
    status = response.status_code
    if status == TOO_MANY_REQUESTS:
        return Throttle(retry_after(response), status)
    if status == SERVICE_UNAVAILABLE and "retry-after" in response.headers:
        return Throttle(retry_after(response), status)
    if status >= 500:
        return ConnectorError.in_doubt(
            f"the provider answered HTTP {status}: it may have taken the message",
            code=f"http_{status}",
        )
    return None


def transport_error(exc: httpx.HTTPError) -> ConnectorError:
    """A request that got no HTTP answer, by how far it got (see the module's table)."""
    kind = type(exc).__name__
    detail = str(exc) or kind
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return ConnectorError.not_sent(f"cannot reach the provider: {detail}", code="unreachable")
    if isinstance(exc, httpx.WriteError | httpx.WriteTimeout | httpx.LocalProtocolError):
        # The request was not written whole (or not at all: a header h11 refused):
        # without its end the provider cannot have read it (every request has a length).
        return ConnectorError.not_sent(f"request not written: {detail}", code="write_failed")
    if isinstance(exc, httpx.ReadTimeout):
        return ConnectorError.in_doubt("no answer within read_timeout", code="no_answer")
    if isinstance(exc, httpx.ReadError | httpx.RemoteProtocolError):
        return ConnectorError.in_doubt(
            f"connection lost before the answer: {detail}", code="connection_lost"
        )
    if isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.ProtocolError):
        # Proxy errors, unsupported protocols, closing errors: nothing reached the provider.
        return ConnectorError.not_sent(f"request not sent: {kind}", code="not_sent")
    return ConnectorError.in_doubt(f"request failed after it was written: {kind}")
