"""textgate errors -> the vendor's answers: an HTTP status and ``{"message", "code"?}``.

The vendor's server answers a bad request 400, bad credentials 401, an unknown message 404,
a message id used before (with another message too: textgate's key reuse) or a message
no longer pending 409, a full queue 503
(shared/specs/android-device-api.md, section 6); its clients raise by status
(``android_sms_gateway.errors``). It has no account rules: a request they refuse is a bad
request (400), or 403 from an address not allowed, 429 over the daily limit, 402 when the
balance does not cover it; textgate's reason is the ``code``.
"""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import JSONResponse

from textgate.core.policy import Reason
from textgate.dialects.base import lookup
from textgate.errors import (
    AuthenticationFailed,
    Conflict,
    ConnectorError,
    Forbidden,
    GatewayError,
    InsufficientCredit,
    InvalidRequest,
    KeyReused,
    NotFound,
    PolicyDenied,
    RateLimited,
    RequestTooLarge,
    StorageUnavailable,
)

__all__ = ["POLICY_STATUS", "STATUS", "render_error"]

STATUS: tuple[tuple[type[GatewayError], int], ...] = (
    (RequestTooLarge, 413),
    (KeyReused, 409),
    (InvalidRequest, 400),
    (AuthenticationFailed, 401),
    (Forbidden, 403),
    (PolicyDenied, 400),
    (InsufficientCredit, 402),
    (NotFound, 404),
    (Conflict, 409),
    (RateLimited, 429),
    (ConnectorError, 502),
    (StorageUnavailable, 503),
)


# Account-rule refusals whose HTTP meaning is not a bad request (core.policy.Reason).
POLICY_STATUS: dict[str, int] = {
    Reason.IP_NOT_ALLOWED.value: 403,
    Reason.DAILY_LIMIT.value: 429,
}


def render_error(exc: GatewayError | None) -> Response:
    if exc is None:
        return JSONResponse({"message": "internal error"}, status_code=500)
    body: dict[str, object] = {"message": exc.message}
    if exc.code:
        body["code"] = exc.code
    status = lookup(STATUS, exc, 500)
    if isinstance(exc, PolicyDenied):
        status = POLICY_STATUS.get(exc.reason, status)
    return JSONResponse(body, status_code=status)
