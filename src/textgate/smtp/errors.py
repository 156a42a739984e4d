"""SMTP replies: the server's own, and the one table that maps textgate errors to them.

The providers the email dialects follow document no SMTP reply codes (only what they
refuse). The codes follow RFC 5321 section 4.2 (basic codes: 4xx try again later, 5xx do
not) and RFC 3463 (enhanced status codes), so the sending server bounces the mail with the
text below and its user learns why.
"""

from __future__ import annotations

from textgate.dialects.mail import Refused, Reply
from textgate.errors import (
    AuthenticationFailed,
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

__all__ = [
    "ACCEPTED",
    "INTERNAL",
    "OTHER_KIND",
    "RCPT_OK",
    "TOO_MANY",
    "Refused",
    "Reply",
    "reply_for",
]


RCPT_OK = Reply(250, "2.1.5", "OK")
ACCEPTED = Reply(250, "2.0.0", "OK: accepted")
# One email goes to one kind of address: another kind is deferred (4xx), so the sending
# server delivers it in a transaction of its own (RFC 5321 section 3.3).
OTHER_KIND = Reply(
    452, "4.5.3", "one kind of address per email: send to this address in a separate email"
)
TOO_MANY = Reply(452, "4.5.3", "too many recipients in one email")
INTERNAL = Reply(451, "4.3.0", "the email could not be taken now; try again later")

# textgate error -> (SMTP code, enhanced status). Most specific class first: the first entry
# the error is an instance of wins.
_TABLE: tuple[tuple[type[GatewayError], int, str], ...] = (
    # Credentials the email carries (in its headers or subject, or as its sender address).
    (AuthenticationFailed, 554, "5.7.8"),
    (Forbidden, 554, "5.7.1"),
    # The account's rules (IP allowlist, batch and daily limits, country filter,
    # anti-duplication): each refuses the email, its reason in the reply text.
    (PolicyDenied, 554, "5.7.1"),
    (InsufficientCredit, 554, "5.7.1"),
    # Try again later: the sending server keeps the mail and retries.
    (RateLimited, 451, "4.7.1"),
    (StorageUnavailable, 451, "4.3.0"),
    (ConnectorError, 451, "4.3.0"),
    (InvalidNumber, 550, "5.1.3"),
    # The SMS sender ID the email asks for.
    (InvalidSender, 553, "5.1.7"),
    (RequestTooLarge, 552, "5.3.4"),
    (InvalidRequest, 554, "5.6.0"),
    (NotFound, 554, "5.6.0"),
)


def reply_for(exc: GatewayError, *, at_rcpt: bool = False) -> Reply:
    """The reply for ``exc``; ``at_rcpt``: refusing one recipient, for which a permanent
    refusal is 550 (RFC 5321 section 4.2.2)."""
    for cls, code, status in _TABLE:
        if isinstance(exc, cls):
            if at_rcpt and code >= 500:
                code = 550
            return Reply(code, status, exc.message)
    return INTERNAL
