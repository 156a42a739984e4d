"""textgate errors -> smsend HTTP statuses and error bodies: the dialect's one table.

Statuses follow the provider's documentation (seed 001 and shared/specs/dialects.md,
"smsend / Skebby"): 400 invalid input and other errors, 401 missing or invalid
user_key / Session_key / Access_token or credentials, 404 unknown order (also an order that
can no longer be deleted), 429 too many requests. The provider publishes no error-code list,
so ``code`` numbers are textgate's and stable; ``error`` carries the provider's status word
where one exists (TOOM4USER, TOOM4NUM, BLACKLISTED, INVALIDDST, UNKNRCPT). Bodies carry
``message`` and ``error_message`` both, the two names clients read.
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
    RequestTooLarge,
    StorageUnavailable,
)

__all__ = ["ERRORS", "POLICY_ERRORS", "render_error"]

# error class -> (HTTP status, code, provider word); the first matching class wins.
ERRORS: tuple[tuple[type[GatewayError], tuple[int, int, str]], ...] = (
    (RequestTooLarge, (400, 11, "INVALID_INPUT")),
    (InvalidNumber, (400, 12, "UNKNRCPT")),
    (InvalidSender, (400, 13, "INVALIDCONTENTS")),
    (InvalidRequest, (400, 10, "INVALID_INPUT")),
    (AuthenticationFailed, (401, 20, "UNAUTHORIZED")),
    (Forbidden, (401, 21, "UNAUTHORIZED")),
    (InsufficientCredit, (400, 40, "NOT_ENOUGH_CREDIT")),
    (NotFound, (404, 50, "NOT_FOUND")),
    (Conflict, (404, 51, "NOT_FOUND")),
    (RateLimited, (429, 60, "TOO_MANY_REQUESTS")),
    (ConnectorError, (500, 90, "ERROR")),
    (StorageUnavailable, (503, 91, "ERROR")),
)

# Account-rule refusals of a whole request (core.policy.Reason), by reason.
POLICY_ERRORS: dict[str, tuple[int, int, str]] = {
    Reason.IP_NOT_ALLOWED.value: (401, 22, "UNAUTHORIZED"),
    Reason.BATCH_TOO_LARGE.value: (400, 30, "TOOM4USER"),
    Reason.DAILY_LIMIT.value: (429, 31, "TOOM4USER"),
    Reason.COUNTRY_BLOCKED.value: (400, 32, "INVALIDDST"),
    Reason.DUPLICATE.value: (400, 33, "TOOM4NUM"),
    Reason.OPTED_OUT.value: (400, 34, "BLACKLISTED"),
    Reason.INVALID_SENDER.value: (400, 13, "INVALIDCONTENTS"),
    Reason.INVALID_NUMBER.value: (400, 12, "UNKNRCPT"),
}
_OTHER_POLICY = (400, 39, "KO")
_INTERNAL = (500, 99, "ERROR")


def _classify(exc: GatewayError) -> tuple[int, int, str]:
    if isinstance(exc, PolicyDenied):
        return POLICY_ERRORS.get(exc.reason, _OTHER_POLICY)
    return lookup(ERRORS, exc, _INTERNAL)


def render_error(exc: GatewayError | None) -> Response:
    """The provider-format answer for an error; None is an unexpected failure."""
    status, code, word = _INTERNAL if exc is None else _classify(exc)
    message = "internal error" if exc is None else exc.message
    return JSONResponse(
        {"result": "KO", "code": code, "error": word, "message": message, "error_message": message},
        status_code=status,
    )
