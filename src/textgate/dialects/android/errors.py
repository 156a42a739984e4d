"""Gateway errors as the device API answers them.

The app throws on any non-2xx answer and never reads the body (spec section 0); the body is
the vendor's ``{"message": ..., "code"?: ...}`` for people reading logs. Statuses matter:
the app registers again only on 401 (spec section 1).
"""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import JSONResponse

from textgate.dialects.base import lookup
from textgate.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    GatewayError,
    InvalidRequest,
    NotFound,
    RateLimited,
    RequestTooLarge,
    StorageUnavailable,
)

__all__ = ["render_error"]

_STATUS: tuple[tuple[type[GatewayError], int], ...] = (
    (RequestTooLarge, 413),
    (InvalidRequest, 400),
    (AuthenticationFailed, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (RateLimited, 429),
    (StorageUnavailable, 503),
)


def render_error(exc: GatewayError | None) -> Response:
    if exc is None:
        return JSONResponse({"message": "internal error"}, status_code=500)
    status = lookup(_STATUS, exc, 500)
    body: dict[str, object] = {"message": exc.message}
    if exc.code:
        body["code"] = exc.code
    return JSONResponse(body, status_code=status)
