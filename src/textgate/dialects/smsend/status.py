"""textgate statuses in smsend's words (``GET sms/{order_id}``).

The words are those of smsend's "Get SMS message state" table (REST API documentation,
smsend/REST-API "SMS Send API/Get SMS message state.md"): WAITING, SENT, WAIT4DLVR, DLVRD,
TOOM4USER, TOOM4NUM, ERROR, TIMEOUT, UNKNRCPT, UNKNPFX, SCHEDULED, INVALIDDST, BLACKLISTED,
KO, INVALIDCONTENTS. The provider deletes a cancelled order; textgate keeps it, and says
CANCELLED, the one word of its own here.
"""

from __future__ import annotations

from textgate.core.message import Message, Status
from textgate.core.policy import Reason

__all__ = ["provider_status"]

_BY_STATUS: dict[Status, str] = {
    Status.SCHEDULED: "SCHEDULED",
    Status.QUEUED: "WAITING",
    Status.SENDING: "WAITING",
    Status.SENT: "SENT",
    Status.BUFFERED: "WAIT4DLVR",
    Status.DELIVERED: "DLVRD",
    Status.UNDELIVERED: "KO",
    Status.FAILED: "ERROR",
    Status.EXPIRED: "TIMEOUT",
    Status.CANCELLED: "CANCELLED",
}

# A refused recipient: why, in the provider's words.
_BY_REASON: dict[str, str] = {
    Reason.INVALID_NUMBER.value: "UNKNRCPT",
    Reason.COUNTRY_BLOCKED.value: "INVALIDDST",
    Reason.OPTED_OUT.value: "BLACKLISTED",
    Reason.DUPLICATE.value: "TOOM4NUM",
    Reason.DAILY_LIMIT.value: "TOOM4USER",
    Reason.BATCH_TOO_LARGE.value: "TOOM4USER",
    Reason.INVALID_SENDER.value: "INVALIDCONTENTS",
}


def provider_status(message: Message) -> str:
    if message.status == Status.REJECTED:
        return _BY_REASON.get(message.error_code or "", "ERROR")
    return _BY_STATUS.get(message.status, "ERROR")
