"""textgate errors -> Twilio REST API error answers: the dialect's one table.

A refusal is JSON ``{"code", "message", "more_info", "status"}`` (shared/specs/dialects.md,
"Twilio Messages API"; the same shape the Twilio connector reads, connectors.upstream.twilio),
with the HTTP status repeated in ``status`` and ``more_info`` pointing at the code's page of
Twilio's error dictionary (twilio.com/docs/errors/<code>). The codes, from that dictionary:

- 20001: the REST API's "invalid parameter" (a value it cannot use);
- 20003: Authenticate (HTTP 401): no credentials, or wrong ones;
- 20005: Account not active (it ran out of funds);
- 20404: the requested resource was not found;
- 20429: Too Many Requests;
- 20500 / 20503: internal error / service unavailable;
- 21211: Invalid 'To' phone number; 21212: Invalid 'From' number;
- 21408: Permission to send an SMS has not been enabled for the region of 'To';
- 21602: Message body is required; 21604: 'To' phone number is required;
- 21609: Invalid 'StatusCallback'; 21610: Attempt to send to an unsubscribed recipient;
- 21617: the concatenated message body exceeds the 1,600 character limit;
- 30007: Message filtered (here: by the account's duplicate filter);
- 63038: the account exceeded its daily messages limit.
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
    "BODY_REQUIRED",
    "BODY_TOO_LONG",
    "ERRORS",
    "INVALID_CALLBACK",
    "POLICY_ERRORS",
    "TO_REQUIRED",
    "TwilioRefusal",
    "render_error",
]

BAD_PARAMETER = 20001
TO_REQUIRED = 21604
BODY_REQUIRED = 21602
BODY_TOO_LONG = 21617
INVALID_CALLBACK = 21609


class TwilioRefusal(InvalidRequest):
    """A bad request whose Twilio code is more precise than the class's (a missing To is
    21604, not 20001): the dialect's own checks raise it, the table reads its code."""

    def __init__(self, twilio_code: int, message: str) -> None:
        super().__init__(message)
        self.twilio_code = twilio_code


# error class -> (HTTP status, Twilio code); the first matching class wins.
ERRORS: tuple[tuple[type[GatewayError], tuple[int, int]], ...] = (
    (InvalidNumber, (400, 21211)),
    (InvalidSender, (400, 21212)),
    (InvalidRequest, (400, BAD_PARAMETER)),
    (AuthenticationFailed, (401, 20003)),
    (Forbidden, (403, 20003)),
    (InsufficientCredit, (403, 20005)),
    (NotFound, (404, 20404)),
    (Conflict, (400, BAD_PARAMETER)),
    (RateLimited, (429, 20429)),
    (ConnectorError, (500, 20500)),
    (StorageUnavailable, (503, 20503)),
)

# Account-rule refusals (core.policy.Reason), by reason.
POLICY_ERRORS: dict[str, tuple[int, int]] = {
    Reason.IP_NOT_ALLOWED.value: (403, 20003),
    Reason.BATCH_TOO_LARGE.value: (400, BAD_PARAMETER),
    Reason.DAILY_LIMIT.value: (429, 63038),
    Reason.COUNTRY_BLOCKED.value: (400, 21408),
    Reason.DUPLICATE.value: (400, 30007),
    Reason.OPTED_OUT.value: (400, 21610),
    Reason.INVALID_SENDER.value: (400, 21212),
    Reason.INVALID_NUMBER.value: (400, 21211),
    Reason.INSUFFICIENT_CREDIT.value: (403, 20005),
}
_OTHER_POLICY = (400, BAD_PARAMETER)
_INTERNAL = (500, 20500)


def _classify(exc: GatewayError) -> tuple[int, int]:
    if isinstance(exc, TwilioRefusal):
        return 400, exc.twilio_code
    if isinstance(exc, PolicyDenied):
        return POLICY_ERRORS.get(exc.reason, _OTHER_POLICY)
    return lookup(ERRORS, exc, _INTERNAL)


def error_body(status: int, code: int, message: str) -> dict[str, object]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def render_error(exc: GatewayError | None) -> Response:
    """The Twilio-format answer for an error; None is an unexpected failure."""
    status, code = _INTERNAL if exc is None else _classify(exc)
    message = "internal error" if exc is None else exc.message
    return JSONResponse(error_body(status, code, message), status_code=status)
