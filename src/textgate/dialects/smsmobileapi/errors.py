"""textgate errors -> SMSmobileAPI statuses and bodies: the dialect's one table.

The seed (003) documents only success bodies: ``result.error`` is ``0`` (or ``"0"``, empty,
null) when nothing went wrong, and "if another value is returned, the request failed or was
blocked"; the conversation listing answers ``{"success": false, "error": "<text>"}``. The
provider publishes no code list, so the ``error`` values below are textgate's, numeric
strings (clients compare against 0 or convert to int) and stable; ``note`` says what went
wrong. HTTP statuses follow the error, and every answer is JSON (shared/specs/dialects.md:
the Python client calls ``raise_for_status()`` and then ``.json()``).
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
    InvalidNumber,
    InvalidRequest,
    InvalidSender,
    NotFound,
    PolicyDenied,
    RateLimited,
    StorageUnavailable,
)

__all__ = [
    "ERRORS",
    "NOT_SUPPORTED",
    "POLICY_ERRORS",
    "classify",
    "render_conversation_error",
    "render_oauth_error",
    "render_result_error",
]

NOT_SUPPORTED = "not_supported"
"""``InvalidRequest`` code of an option textgate cannot carry out (WhatsApp)."""

# error class -> (HTTP status, result.error); the first matching class wins.
ERRORS: tuple[tuple[type[GatewayError], tuple[int, str]], ...] = (
    (InvalidNumber, (400, "12")),
    (InvalidSender, (400, "13")),
    (InvalidRequest, (400, "10")),
    (AuthenticationFailed, (401, "20")),
    (Forbidden, (403, "21")),
    (InsufficientCredit, (402, "40")),
    (NotFound, (404, "50")),
    (Conflict, (409, "51")),
    (RateLimited, (429, "60")),
    (ConnectorError, (502, "90")),
    (StorageUnavailable, (503, "91")),
)

# Account-rule refusals (core.policy.Reason), by reason.
POLICY_ERRORS: dict[str, tuple[int, str]] = {
    Reason.IP_NOT_ALLOWED.value: (403, "22"),
    Reason.BATCH_TOO_LARGE.value: (400, "30"),
    Reason.DAILY_LIMIT.value: (429, "31"),
    Reason.COUNTRY_BLOCKED.value: (400, "32"),
    Reason.DUPLICATE.value: (400, "33"),
    Reason.OPTED_OUT.value: (400, "34"),
    Reason.INVALID_SENDER.value: (400, "13"),
    Reason.INVALID_NUMBER.value: (400, "12"),
}
_NOT_SUPPORTED = (400, "70")
_OTHER_POLICY = (400, "39")
_INTERNAL = (500, "99")


def classify(exc: GatewayError | None) -> tuple[int, str]:
    """HTTP status and ``result.error`` for an error (None: an unexpected failure)."""
    if exc is None:
        return _INTERNAL
    if isinstance(exc, PolicyDenied):
        return POLICY_ERRORS.get(exc.reason, _OTHER_POLICY)
    if isinstance(exc, InvalidRequest) and exc.code == NOT_SUPPORTED:
        return _NOT_SUPPORTED
    return lookup(ERRORS, exc, _INTERNAL)


def _note(exc: GatewayError | None) -> str:
    return "internal error" if exc is None else exc.message


def render_result_error(exc: GatewayError | None) -> Response:
    status, code = classify(exc)
    # ``sent`` "0": a client checking only the send flag sees nothing was sent.
    body = {"result": {"error": code, "sent": "0", "note": _note(exc)}}
    return JSONResponse(body, status_code=status)


def render_conversation_error(exc: GatewayError | None) -> Response:
    status, _ = classify(exc)
    return JSONResponse({"success": False, "error": _note(exc)}, status_code=status)


def render_oauth_error(exc: GatewayError | None) -> Response:
    """RFC 6749 section 5.2 error bodies for the token endpoint."""
    status, _ = classify(exc)
    if isinstance(exc, AuthenticationFailed):
        word = "invalid_client"
    elif isinstance(exc, InvalidRequest) and exc.code == "unsupported_grant":
        word = "unsupported_grant_type"
    elif isinstance(exc, InvalidRequest):
        word = "invalid_request"
    elif isinstance(exc, RateLimited):
        # Too many failed attempts from this address: the word RFC 6749 section 4.1.2.1
        # gives an authorization server that cannot answer for now (status 429).
        word = "temporarily_unavailable"
    else:
        word = "server_error"
    return JSONResponse({"error": word, "error_description": _note(exc)}, status_code=status)
