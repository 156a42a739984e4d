"""The command_status table: bad input never gets ESME_RSYSERR, binds get the credentials'
own codes or ESME_RBINDFAIL."""

from __future__ import annotations

import pytest

from textgate.connectors.smpp.constants import CommandStatus
from textgate.core.policy import Reason
from textgate.errors import (
    AuthenticationFailed,
    GatewayError,
    InsufficientCredit,
    InvalidNumber,
    InvalidRequest,
    InvalidSender,
    MalformedInput,
    PolicyDenied,
    RateLimited,
    RequestTooLarge,
    StorageUnavailable,
)
from textgate.services.smpp_logins import UNKNOWN_SYSTEM_ID, WRONG_PASSWORD
from textgate.smpp_server.errors import bind_status, submit_status

S = CommandStatus

BAD_INPUT: list[GatewayError] = [
    InvalidRequest("x"),
    InvalidRequest("x", code="text_too_long"),
    MalformedInput("x"),
    RequestTooLarge("x"),
    InvalidNumber("x"),
    InvalidSender("x"),
    InsufficientCredit("x"),
    RateLimited("x"),
    *(PolicyDenied("x", reason=r.value) for r in Reason),
]


@pytest.mark.parametrize("exc", BAD_INPUT, ids=lambda e: f"{type(e).__name__}:{e.code}")
def test_bad_input_is_never_a_system_error(exc: GatewayError) -> None:
    assert submit_status(exc) != S.ESME_RSYSERR
    assert bind_status(exc) != S.ESME_RSYSERR


@pytest.mark.parametrize(
    ("exc", "submit", "bind"),
    [
        (AuthenticationFailed("x", code=UNKNOWN_SYSTEM_ID), S.ESME_RINVSYSID, S.ESME_RINVSYSID),
        (AuthenticationFailed("x", code=WRONG_PASSWORD), S.ESME_RINVPASWD, S.ESME_RINVPASWD),
        (RateLimited("x"), S.ESME_RTHROTTLED, S.ESME_RBINDFAIL),
        (PolicyDenied("x", reason=Reason.IP_NOT_ALLOWED), S.ESME_RBINDFAIL, S.ESME_RBINDFAIL),
        (PolicyDenied("x", reason=Reason.DAILY_LIMIT), S.ESME_RTHROTTLED, S.ESME_RBINDFAIL),
        (InvalidNumber("x"), S.ESME_RINVDSTADR, S.ESME_RBINDFAIL),
        (InvalidSender("x"), S.ESME_RINVSRCADR, S.ESME_RBINDFAIL),
        (StorageUnavailable("x"), S.ESME_RSYSERR, S.ESME_RSYSERR),
    ],
    ids=lambda v: f"{type(v).__name__}:{v.code}" if isinstance(v, GatewayError) else "",
)
def test_statuses(exc: GatewayError, submit: CommandStatus, bind: CommandStatus) -> None:
    assert (submit_status(exc), bind_status(exc)) == (submit, bind)
