"""textgate errors -> LabsMobile result codes: the dialect's one table.

LabsMobile answers every request with a ``code`` and a ``message`` (its JSON API,
apidocs.labsmobile.com, section "Results and errors"; the same numbers in its http/GET
interface's XML answer and in its other interfaces' shared table):

- 0: Message has been successfully sent;
- 10: Missing JSON (XML) data in the request; 11: Badly formed JSON (XML) in the request;
- 20: The message element must be present in the request;
  21: The message element cannot be empty;
- 23: There are no recipients; 24: Too many recipients;
- 27: This message contained one or more invalid character(s);
- 28: Subid is exceeding maximum length;
- 30: There was an error while sending the message;
- 35: The account has no enough credit for this sending;
- 39: The value of the scheduled field is not a valid datetime format;
- 41: Scheduled messages cannot be sent in test mode.

Refused credentials are HTTP 401 (the same "Auth Basic HTTP" page's clients see it as
the answer's status); a request from an address outside the account's allowlist, 403.
Every other answer is HTTP 200, its outcome in ``code``: LabsMobile's own libraries read
the body of a 200 (labsmobile-sms checks ``code``). The table has no code for a rule of
the account other than credit and batch size: those are 30 with the rule's own words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from textgate.core.policy import Reason
from textgate.dialects.base import lookup
from textgate.errors import (
    AuthenticationFailed,
    Forbidden,
    GatewayError,
    InsufficientCredit,
    InvalidNumber,
    InvalidRequest,
    MalformedInput,
    PolicyDenied,
    RequestTooLarge,
)
from textgate.services.submit_request import TEXT_TOO_LONG

__all__ = [
    "BAD_SCHEDULE",
    "EMPTY_MESSAGE",
    "MESSAGES",
    "MISSING_DATA",
    "MISSING_MESSAGE",
    "NO_CREDIT",
    "NO_RECIPIENTS",
    "OK",
    "SEND_ERROR",
    "SUBID_TOO_LONG",
    "TEST_SCHEDULED",
    "TOO_MANY_RECIPIENTS",
    "LabsRefusal",
    "Outcome",
    "outcome_of",
]

OK: Final = 0
MISSING_DATA: Final = 10
MALFORMED: Final = 11
MISSING_MESSAGE: Final = 20
EMPTY_MESSAGE: Final = 21
NO_RECIPIENTS: Final = 23
TOO_MANY_RECIPIENTS: Final = 24
INVALID_CHARACTERS: Final = 27
SUBID_TOO_LONG: Final = 28
SEND_ERROR: Final = 30
NO_CREDIT: Final = 35
BAD_SCHEDULE: Final = 39
TEST_SCHEDULED: Final = 41
UNAUTHORIZED: Final = 401
FORBIDDEN: Final = 403

MESSAGES: Final = {
    OK: "Message has been successfully sent",
    MISSING_DATA: "Missing JSON data in request",
    MALFORMED: "Badly formed JSON in request",
    MISSING_MESSAGE: "The message element must be present in the request",
    EMPTY_MESSAGE: "The message element cannot be empty",
    NO_RECIPIENTS: "There are no recipients",
    TOO_MANY_RECIPIENTS: "Too many recipients",
    INVALID_CHARACTERS: "This message contained one or more invalid character(s)",
    SUBID_TOO_LONG: "Subid is exceeding maximum length",
    SEND_ERROR: "There was an error while sending the message",
    NO_CREDIT: "The account has no enough credit for this sending",
    BAD_SCHEDULE: "The value of the scheduled field is not a valid datetime format",
    TEST_SCHEDULED: "Scheduled messages cannot be sent in test mode",
    UNAUTHORIZED: "Unauthorized",
    FORBIDDEN: "Forbidden",
}


class LabsRefusal(InvalidRequest):
    """A bad request whose LabsMobile code is more precise than its class's (an empty
    message is 21): the dialect's own checks raise it, the table reads its code."""

    def __init__(self, labs_code: int, detail: str = "") -> None:
        super().__init__(detail or MESSAGES[labs_code])
        self.labs_code = labs_code


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a request comes to, in LabsMobile's words, whichever format carries them."""

    code: int
    message: str
    http_status: int = 200
    subid: str | None = None


# error class -> LabsMobile code; the first matching class wins.
_CODES: tuple[tuple[type[GatewayError], int], ...] = (
    (AuthenticationFailed, UNAUTHORIZED),
    (Forbidden, FORBIDDEN),
    (InsufficientCredit, NO_CREDIT),
    (InvalidNumber, NO_RECIPIENTS),
    (RequestTooLarge, MALFORMED),
    (MalformedInput, MALFORMED),
)
# Account-rule refusals (core.policy.Reason) with a code of their own.
_POLICY: Final = {
    Reason.IP_NOT_ALLOWED.value: FORBIDDEN,
    Reason.BATCH_TOO_LARGE.value: TOO_MANY_RECIPIENTS,
    Reason.INSUFFICIENT_CREDIT.value: NO_CREDIT,
    Reason.INVALID_NUMBER.value: NO_RECIPIENTS,
}
# Codes that are an HTTP status of their own; every other answer is a 200.
_HTTP: Final = {UNAUTHORIZED: 401, FORBIDDEN: 403}


def _code(exc: GatewayError) -> int:
    if isinstance(exc, LabsRefusal):
        return exc.labs_code
    if isinstance(exc, PolicyDenied):
        return _POLICY.get(exc.reason, SEND_ERROR)
    if isinstance(exc, InvalidRequest) and exc.code == "missing_recipient":
        return NO_RECIPIENTS
    if isinstance(exc, InvalidRequest) and exc.code == "missing_text":
        return EMPTY_MESSAGE
    if isinstance(exc, InvalidRequest) and exc.code == TEXT_TOO_LONG:
        # No code of its own: the text cannot be sent as it is (see the README).
        return INVALID_CHARACTERS
    return lookup(_CODES, exc, SEND_ERROR)


def outcome_of(exc: GatewayError | None) -> Outcome:
    """The answer to an error; None is an unexpected failure of the gateway."""
    if exc is None:
        return Outcome(SEND_ERROR, MESSAGES[SEND_ERROR])
    code = _code(exc)
    status = 413 if isinstance(exc, RequestTooLarge) else _HTTP.get(code, 200)
    text = MESSAGES[code]
    detail = exc.message
    return Outcome(code, text if not detail or detail == text else f"{text}: {detail}", status)
