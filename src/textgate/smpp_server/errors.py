"""SMPP command_status for every refusal: the one table that maps textgate errors to them.

Codes are those of SMPP 3.4 section 5.1.3 (table 5-2). Bad input always gets the code that
names what was wrong (or ESME_RSUBMITFAIL, "submit_sm failed", where 3.4 has no closer
word); ESME_RSYSERR is kept for the server's own trouble (the database unreachable, a bug),
after which a client may try again. Refusals found by the server itself before anything
reaches the services (a data_coding that carries no text, a bind of the wrong kind) are
:class:`Refused`, carrying their status.
"""

from __future__ import annotations

from textgate.connectors.smpp.constants import CommandStatus
from textgate.core.policy import Reason
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
from textgate.services.smpp_logins import UNKNOWN_SYSTEM_ID, WRONG_PASSWORD
from textgate.services.submit_request import INVALID_VALIDITY, SENDER_MISSING

__all__ = ["ERRORS", "Refused", "bind_status", "submit_status"]

_S = CommandStatus


class Refused(Exception):
    """A request the server refuses on its own, with the command_status to answer."""

    def __init__(self, status: CommandStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# (error class, its code or policy reason, or None for any) -> command_status. The first
# row the error matches wins: specific codes before their class's catch-all.
ERRORS: tuple[tuple[type[GatewayError], str | None, CommandStatus], ...] = (
    # A bind with an unknown system_id or a wrong password: SMPP 3.4 gives each its own code
    # (5.1.3; 4.1.1 names both), and the simulator, the carriers' SMSCs and the clients'
    # logs all tell them apart, so an operator sees at once which half is mistyped. What
    # that tells a guesser (that a system_id exists) is bounded as every login's is: the
    # shared failed-login budget per system_id and per network, and an scrypt check that
    # takes as long for an unknown system_id as for a wrong password.
    (AuthenticationFailed, UNKNOWN_SYSTEM_ID, _S.ESME_RINVSYSID),
    (AuthenticationFailed, WRONG_PASSWORD, _S.ESME_RINVPASWD),
    (AuthenticationFailed, None, _S.ESME_RBINDFAIL),
    # Too many failed binds, too many submits for now: the client backs off and retries.
    (RateLimited, None, _S.ESME_RTHROTTLED),
    (InvalidNumber, None, _S.ESME_RINVDSTADR),
    (InvalidSender, None, _S.ESME_RINVSRCADR),
    (RequestTooLarge, None, _S.ESME_RINVMSGLEN),
    (InvalidRequest, "text_too_long", _S.ESME_RINVMSGLEN),
    (InvalidRequest, "missing_text", _S.ESME_RINVMSGLEN),
    (InvalidRequest, SENDER_MISSING, _S.ESME_RINVSRCADR),
    # 5.1.3: 0x62 "Invalid message validity period (Expiry time)".
    (InvalidRequest, INVALID_VALIDITY, _S.ESME_RINVEXPIRY),
    (InvalidRequest, None, _S.ESME_RSUBMITFAIL),
    # The account's rules (core.policy.Reason), by reason.
    (PolicyDenied, Reason.INVALID_SENDER.value, _S.ESME_RINVSRCADR),
    (PolicyDenied, Reason.INVALID_NUMBER.value, _S.ESME_RINVDSTADR),
    (PolicyDenied, Reason.COUNTRY_BLOCKED.value, _S.ESME_RINVDSTADR),
    # A destination the account may not write to (its owner opted out).
    (PolicyDenied, Reason.OPTED_OUT.value, _S.ESME_RINVDSTADR),
    # The daily limit ends with the account's day: throttling makes clients back off and
    # retry later, which is what the limit asks of them.
    (PolicyDenied, Reason.DAILY_LIMIT.value, _S.ESME_RTHROTTLED),
    (PolicyDenied, Reason.BATCH_TOO_LARGE.value, _S.ESME_RINVNUMDESTS),
    (PolicyDenied, Reason.IP_NOT_ALLOWED.value, _S.ESME_RBINDFAIL),
    (PolicyDenied, None, _S.ESME_RSUBMITFAIL),
    # 3.4 has no code for an empty balance (vendors use 0x400-0x4FF, which no client reads
    # the same way): a plain submit failure, with the reason in the server's log.
    (InsufficientCredit, None, _S.ESME_RSUBMITFAIL),
    (Forbidden, None, _S.ESME_RSUBMITFAIL),
    (NotFound, None, _S.ESME_RSUBMITFAIL),
    (Conflict, None, _S.ESME_RSUBMITFAIL),
    # The server's own trouble, not the request's: the client may try again.
    (StorageUnavailable, None, _S.ESME_RSYSERR),
    (ConnectorError, None, _S.ESME_RSYSERR),
)


def _code(exc: GatewayError) -> str:
    return exc.reason if isinstance(exc, PolicyDenied) else exc.code


def submit_status(exc: GatewayError) -> CommandStatus:
    """The command_status refusing a submit_sm / data_sm with ``exc``."""
    code = _code(exc)
    for cls, wanted, status in ERRORS:
        if isinstance(exc, cls) and (wanted is None or wanted == code):
            return status
    return _S.ESME_RSYSERR


def bind_status(exc: GatewayError) -> CommandStatus:
    """The command_status refusing a bind with ``exc``: the credentials' own codes, the
    server's trouble as it is, and any other refusal (the IP allowlist, too many failed
    binds) ESME_RBINDFAIL (5.1.3: "Bind Failed")."""
    status = submit_status(exc)
    if status in (_S.ESME_RINVSYSID, _S.ESME_RINVPASWD, _S.ESME_RSYSERR):
        return status
    return _S.ESME_RBINDFAIL
