"""textgate errors -> MailUp answers: one table for the SMS API, one for SMTP+ email.

SMS (seed 002, "Transactional SMS", Response: "HTTP response statuses that can be returned
by this API, and the corresponding error code"): ``{"Data", "Code", "Description",
"State"}`` with ``Code`` a string. Email (seed 002, "Error codes"): ``{"Status": "error",
"Code", "Message"}``, all strings; where the seed's table and its example responses word a
message differently (111, 112), the examples win, since that is what clients were shown.
"""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import JSONResponse

from textgate.core.policy import Reason
from textgate.dialects.base import lookup
from textgate.dialects.mailup.schemas import NULL_INPUT, envelope
from textgate.errors import (
    AuthenticationFailed,
    ConnectorError,
    Forbidden,
    GatewayError,
    InsufficientCredit,
    InvalidNumber,
    InvalidRequest,
    InvalidSender,
    MalformedInput,
    NotFound,
    PolicyDenied,
    RateLimited,
)
from textgate.services.list_sms import (
    CONTENT_TOO_LONG,
    DELIVERY_NOT_FOUND,
    SENDER_MISSING,
)
from textgate.services.lists import (
    LIST_GUID_FORMAT,
    LIST_GUID_INVALID,
    LIST_NOT_FOUND,
    LIST_SECRET_FORMAT,
    LIST_SECRET_INVALID,
    NUMBER_PREFIX_MISSING,
    TEMPLATE_NOT_FOUND,
)
from textgate.services.smtp_users import (
    ACCOUNT_DELETED,
    ACCOUNT_NOT_FOUND,
    ACCOUNT_SUSPENDED,
    USER_BLOCKED,
    USER_BLOCKED_UNTIL,
    USER_DELETED,
    USER_NOT_ENABLED,
)
from textgate.services.transactional_mail import NO_RECIPIENT, NO_SENDER

__all__ = ["SMS_ERRORS", "STATS_WARNING", "render_mail_error", "render_sms_error", "sms_error"]

SmsError = tuple[int, str, str]

# Error codes (GatewayError.code, PolicyDenied reasons; core.policy.Reason values equal the
# codes of InvalidNumber, InvalidSender and InsufficientCredit) -> (HTTP status, Code,
# Description).
# ``{recipient}`` and ``{list}`` are filled from the request.
SMS_ERRORS: dict[str, SmsError] = {
    NULL_INPUT: (400, "100", "No request found"),
    MalformedInput.code: (400, "100", "No request found"),
    "invalid_request": (400, "101", "Missing or empty parameters"),
    "missing_text": (400, "101", "Missing or empty parameters"),
    "missing_recipient": (400, "101", "Missing or empty parameters"),
    TEMPLATE_NOT_FOUND: (400, "101", "Missing or empty parameters"),
    LIST_GUID_INVALID: (400, "102", "ListGUID is not valid for the current account or list"),
    LIST_SECRET_INVALID: (400, "103", "ListSecret is not valid for the current account or list"),
    SENDER_MISSING: (400, "104", "SMS sender name is empty for list nr. {list}"),
    NUMBER_PREFIX_MISSING: (400, "105", "Number or Prefix missing in the recipient"),
    Reason.INVALID_NUMBER.value: (400, "106", "Recipient is invalid"),
    CONTENT_TOO_LONG: (400, "107", "Content too long"),
    "text_too_long": (400, "107", "Content too long"),
    LIST_NOT_FOUND: (403, "201", "listID is not valid for the current account or list"),
    LIST_GUID_FORMAT: (403, "202", "ListGUID is not in a correct format"),
    LIST_SECRET_FORMAT: (403, "203", "ListSecret is not in a correct format"),
    # MailUp refuses only the USA; textgate's country filter may refuse any country, which
    # clients see as this same code, naming the country.
    Reason.COUNTRY_BLOCKED.value: (403, "204", "Cannot send SMS to {country} recipient"),
    Reason.INSUFFICIENT_CREDIT.value: (403, "205", "Sending denied: NO CREDITS"),
    Reason.OPTED_OUT.value: (
        403,
        "206",
        "SMS number {recipient} is in optout state for list nr.{list}.",
    ),
    Reason.INVALID_SENDER.value: (
        403,
        "207",
        "Provided SMS sender is not certified and cannot be used to send messages",
    ),
    Reason.IP_NOT_ALLOWED.value: (403, "250", "Access denied"),
    Reason.BATCH_TOO_LARGE.value: (403, "250", "Access denied"),
    Reason.DAILY_LIMIT.value: (403, "250", "Access denied"),
    "authentication_failed": (403, "250", "Access denied"),
    "forbidden": (403, "250", "Access denied"),
    "rate_limited": (403, "250", "Access denied"),
    # No such DeliveryId: the status lookup is textgate's, the seed has no code for it.
    DELIVERY_NOT_FOUND: (404, "100", "No request found"),
    Reason.DUPLICATE.value: (500, "302", "Error delivering message to {recipient}"),
    "connector_error": (500, "302", "Error delivering message to {recipient}"),
}
_SMS_INTERNAL: SmsError = (500, "300", "Operation failed: a generic error occur")
STATS_WARNING = ("301", "The message was sent but the statistics are incorrect due to an error")

# Classes whose subclasses and codes were not matched above, most specific first.
_SMS_BY_CLASS: tuple[tuple[type[GatewayError], str], ...] = (
    (InvalidNumber, "invalid_number"),
    (InvalidSender, "invalid_sender"),
    (InvalidRequest, "invalid_request"),
    (AuthenticationFailed, "authentication_failed"),
    (InsufficientCredit, "insufficient_credit"),
    (Forbidden, "forbidden"),
    (RateLimited, "rate_limited"),
    (ConnectorError, "connector_error"),
    (NotFound, LIST_NOT_FOUND),
)


def sms_error(exc: GatewayError | None) -> SmsError:
    if exc is None:
        return _SMS_INTERNAL
    key = exc.reason if isinstance(exc, PolicyDenied) else exc.code
    if key in SMS_ERRORS:
        return SMS_ERRORS[key]
    fallback = lookup(_SMS_BY_CLASS, exc, None)
    return _SMS_INTERNAL if fallback is None else SMS_ERRORS[fallback]


def render_sms_error(
    exc: GatewayError | None, *, recipient: str = "", list_id: str = ""
) -> Response:
    status, code, description = sms_error(exc)
    country = ""
    if isinstance(exc, PolicyDenied) and exc.country:
        country = "USA" if exc.country == "US" else exc.country
    text = description.format(recipient=recipient, list=list_id, country=country or "USA")
    return JSONResponse(envelope(None, code, text, "ERROR"), status_code=status)


# SMTP+ (seed 002, "Error codes"): every refusal is HTTP 403 with its code, except the
# generic failure (400, code 1).
MAIL_ERRORS: dict[str, tuple[int, str, str]] = {
    NULL_INPUT: (403, "101", "The input is null."),
    MalformedInput.code: (403, "101", "The input is null."),
    "authentication_failed": (403, "102", "The operation is not authorized."),
    USER_NOT_ENABLED: (403, "103", "The user is not enabled."),
    USER_BLOCKED: (403, "104", "The user is blocked."),
    USER_BLOCKED_UNTIL: (403, "105", "The user is blocked until this date."),
    ACCOUNT_NOT_FOUND: (403, "106", "The MailUp account cannot be found."),
    ACCOUNT_SUSPENDED: (403, "107", "The MailUp account has been suspended."),
    ACCOUNT_DELETED: (403, "108", "The MailUp account has been deleted."),
    # The seed's table writes "At leastone"; the space is restored.
    NO_RECIPIENT: (403, "109", "At least one recipient is required."),
    NO_SENDER: (403, "110", "The sender is required."),
    TEMPLATE_NOT_FOUND: (403, "111", "The template is not found."),
    USER_DELETED: (403, "112", "User is deleted."),
}
_MAIL_FAILED = (400, "1", "The operation failed.")


def render_mail_error(exc: GatewayError | None) -> Response:
    status, code, message = _MAIL_FAILED
    if exc is not None:
        key = exc.code
        if isinstance(exc, AuthenticationFailed):
            key = "authentication_failed"
        status, code, message = MAIL_ERRORS.get(key, _MAIL_FAILED)
        if code == "1":
            # The generic failure says what failed; clients show Message as it is.
            message = f"The operation failed. {exc.message}"
    return JSONResponse({"Status": "error", "Code": code, "Message": message}, status_code=status)
