"""What an SMSC's ``command_status`` means for a submitted message (SMPP 3.4 5.1.3).

One table, :data:`STATUS_VERDICTS`, maps every error status of SMPP 3.4 section 5.1.3
("command_status") to ``(retryable, reason)``:

- **retryable** statuses say the SMSC could not take the message *now* (throttling, a full
  queue, a system error, a temporary application error, a link in the wrong bind state);
  the same message may succeed later, so the dispatcher tries again;
- **final** statuses say the message itself is wrong for this SMSC (bad address, bad
  length, bad parameters, permanent application error); retrying the same PDU cannot help.

Statuses the table does not know (vendor-specific 0x400-0x4FF and reserved values) are
final, with the hex code in the reason, so an unknown refusal never loops forever.
"""

from __future__ import annotations

from typing import Final

from textgate.connectors.smpp.constants import CommandStatus
from textgate.errors import ConnectorError

__all__ = [
    "BACKPRESSURE_STATUSES",
    "STATUS_VERDICTS",
    "status_name",
    "to_connector_error",
    "verdict",
]

_S = CommandStatus

STATUS_VERDICTS: Final[dict[CommandStatus, tuple[bool, str]]] = {
    # --- retryable: the SMSC's state, not the message, is the problem
    _S.ESME_RTHROTTLED: (True, "throttling error: the ESME exceeded its allowed message rate"),
    _S.ESME_RMSGQFUL: (True, "message queue full"),
    _S.ESME_RSYSERR: (True, "system error at the SMSC"),
    _S.ESME_RX_T_APPN: (True, "ESME receiver temporary app error"),
    _S.ESME_RSUBMITFAIL: (True, "submit_sm failed at the SMSC"),
    _S.ESME_RINVBNDSTS: (True, "incorrect bind status for the command (link not bound)"),
    _S.ESME_RALYBND: (True, "ESME already in bound state"),
    # --- final: the message or its parameters are wrong for this SMSC
    _S.ESME_RINVMSGLEN: (False, "message length is invalid"),
    _S.ESME_RINVCMDLEN: (False, "command length is invalid"),
    _S.ESME_RINVCMDID: (False, "invalid command id"),
    _S.ESME_RINVPRTFLG: (False, "priority flag is invalid"),
    _S.ESME_RINVREGDLVFLG: (False, "registered delivery flag is invalid"),
    _S.ESME_RINVSRCADR: (False, "invalid source address"),
    _S.ESME_RINVDSTADR: (False, "invalid destination address"),
    _S.ESME_RINVMSGID: (False, "message id is invalid"),
    _S.ESME_RBINDFAIL: (False, "bind failed"),
    _S.ESME_RINVPASWD: (False, "invalid password"),
    _S.ESME_RINVSYSID: (False, "invalid system id"),
    _S.ESME_RCANCELFAIL: (False, "cancel_sm failed"),
    _S.ESME_RREPLACEFAIL: (False, "replace_sm failed"),
    _S.ESME_RINVSERTYP: (False, "invalid service type"),
    _S.ESME_RINVNUMDESTS: (False, "invalid number of destinations"),
    _S.ESME_RINVDLNAME: (False, "invalid distribution list name"),
    _S.ESME_RINVDESTFLAG: (False, "destination flag is invalid"),
    _S.ESME_RINVSUBREP: (False, "invalid submit-with-replace request"),
    _S.ESME_RINVESMCLASS: (False, "invalid esm_class field data"),
    _S.ESME_RCNTSUBDL: (False, "cannot submit to distribution list"),
    _S.ESME_RINVSRCTON: (False, "invalid source address TON"),
    _S.ESME_RINVSRCNPI: (False, "invalid source address NPI"),
    _S.ESME_RINVDSTTON: (False, "invalid destination address TON"),
    _S.ESME_RINVDSTNPI: (False, "invalid destination address NPI"),
    _S.ESME_RINVSYSTYP: (False, "invalid system_type field"),
    _S.ESME_RINVREPFLAG: (False, "invalid replace_if_present flag"),
    _S.ESME_RINVNUMMSGS: (False, "invalid number of messages"),
    _S.ESME_RINVSCHED: (False, "invalid scheduled delivery time"),
    _S.ESME_RINVEXPIRY: (False, "invalid message validity period (expiry time)"),
    _S.ESME_RINVDFTMSGID: (False, "predefined message invalid or not found"),
    _S.ESME_RX_P_APPN: (False, "ESME receiver permanent app error"),
    _S.ESME_RX_R_APPN: (False, "ESME receiver reject message error"),
    _S.ESME_RQUERYFAIL: (False, "query_sm request failed"),
    _S.ESME_RINVOPTPARSTREAM: (False, "error in the optional part of the PDU body"),
    _S.ESME_ROPTPARNOTALLWD: (False, "optional parameter not allowed"),
    _S.ESME_RINVPARLEN: (False, "invalid parameter length"),
    _S.ESME_RMISSINGOPTPARAM: (False, "expected optional parameter missing"),
    _S.ESME_RINVOPTPARAMVAL: (False, "invalid optional parameter value"),
    _S.ESME_RDELIVERYFAILURE: (False, "delivery failure"),
    _S.ESME_RUNKNOWNERR: (False, "unknown error"),
}


def status_name(status: int) -> str:
    """``ESME_RTHROTTLED`` for a known status, ``0x00000400`` otherwise."""
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"


def verdict(status: int) -> tuple[bool, str]:
    """``(retryable, reason)`` for a non-zero command_status; unknown ones are final."""
    try:
        return STATUS_VERDICTS[CommandStatus(status)]
    except (ValueError, KeyError):
        return False, f"unknown command_status 0x{status:08X}"


def to_connector_error(status: int) -> ConnectorError:
    """The :class:`ConnectorError` for a refused request; ``code`` is the status name in
    lower case (``esme_rthrottled``), or ``smpp_0x...`` for an unknown status."""
    retryable, reason = verdict(status)
    name = status_name(status)
    code = name.lower() if name.startswith("ESME_") else f"smpp_{name.lower()}"
    return ConnectorError(f"smsc refused: {name}: {reason}", retryable=retryable, code=code)


BACKPRESSURE_STATUSES: Final[frozenset[int]] = frozenset({_S.ESME_RTHROTTLED, _S.ESME_RMSGQFUL})
"""Refusals that say "not so fast" (5.1.3: 0x58 throttling error, 0x14 message queue full):
the connector pauses all submissions and sends the refused PDU again itself."""
