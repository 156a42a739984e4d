"""textgate's own error format, shared by its own APIs (native ``/v1`` and admin ``/v1/admin``).

Body ``{"error": {"code", "message"}}``; status by RFC 9110 semantics, most specific class
first. Provider dialects have their own tables in their own ``errors.py``.
"""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import JSONResponse

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

__all__ = ["STATUS_BY_ERROR", "error_body", "http_status", "render_error"]

STATUS_BY_ERROR: tuple[tuple[type[GatewayError], int], ...] = (
    (RequestTooLarge, 413),
    # The IETF Idempotency-Key draft (draft-ietf-httpapi-idempotency-key-header, "Error
    # Scenarios"): a key reused with a different payload is 422.
    (KeyReused, 422),
    (InvalidRequest, 400),
    (AuthenticationFailed, 401),
    (InsufficientCredit, 402),
    (Forbidden, 403),
    (PolicyDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (RateLimited, 429),
    (ConnectorError, 502),
    (StorageUnavailable, 503),
)


def http_status(exc: GatewayError) -> int:
    return lookup(STATUS_BY_ERROR, exc, 500)


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def render_error(exc: GatewayError | None) -> Response:
    """The HTTP answer for an error; None is an unexpected failure (500, no details)."""
    if exc is None:
        return JSONResponse(error_body("internal_error", "internal error"), status_code=500)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationFailed) else None
    return JSONResponse(
        error_body(exc.code, exc.message), status_code=http_status(exc), headers=headers
    )
