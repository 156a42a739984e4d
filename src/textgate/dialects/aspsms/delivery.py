"""ASPSMS's delivery notifications, as ``InquireDeliveryNotifications`` answers them: one
entry per message asked about by its TransRefNumber (the reference the client gave each
recipient when it sent).

Each entry is ``TransactionReferenceNumber``, ``DeliveryStatus``,
``DeliveryStatusDescription``, ``SubmissionDate`` and ``NotificationDate`` (ISO 8601, UTC),
``Reasoncode`` and ``ReasoncodeDescription``, every value a string, as ASPSMS's JSON API
writes them (json.aspsms.com; the shape its clients read, e.g. hitobito's ASPSMS provider).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

from textgate.core.message import Message, Status

__all__ = ["MAX_REFERENCES", "STATUSES", "notification", "notifications", "references"]

MAX_REFERENCES: Final = 1000
"""References one inquiry may name (as many as recipients one send may have)."""

# textgate's status -> ASPSMS's DeliveryStatus and its description (ASPSMS XML interface
# specification, "DeliveryStatus": -1 not yet submitted or rejected, 0 delivered, 1
# buffered, 2 not delivered). A message with the carrier and no report yet is "buffered"
# (not final, not waiting here either); one that will never leave (cancelled, expired
# before it left) or that the carrier could not deliver is "not delivered"; one the
# account's rules refused, "rejected".
_PENDING: Final = ("-1", "Not yet submitted or rejected")
_DELIVERED: Final = ("0", "Delivered")
_BUFFERED: Final = ("1", "Buffered")
_NOT_DELIVERED: Final = ("2", "Not delivered")
STATUSES: Final[Mapping[Status, tuple[str, str]]] = {
    Status.SCHEDULED: _PENDING,
    Status.QUEUED: _PENDING,
    Status.SENDING: _PENDING,
    Status.REJECTED: _PENDING,
    Status.SENT: _BUFFERED,
    Status.BUFFERED: _BUFFERED,
    Status.DELIVERED: _DELIVERED,
    Status.UNDELIVERED: _NOT_DELIVERED,
    Status.FAILED: _NOT_DELIVERED,
    Status.EXPIRED: _NOT_DELIVERED,
    Status.CANCELLED: _NOT_DELIVERED,
}
# The reason code of a delivered message ("000"); the others carry none.
_DELIVERED_REASON: Final = "000"


def references(raw: str) -> list[str]:
    """The TransRefNumbers of an inquiry, separated by semicolons (commas taken too),
    each once, in their order."""
    found = (part.strip() for part in raw.replace(",", ";").split(";"))
    return list(dict.fromkeys(part for part in found if part))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def notification(reference: str, message: Message) -> dict[str, str]:
    status, description = STATUSES.get(message.status, _PENDING)
    delivered = message.status is Status.DELIVERED
    return {
        "TransactionReferenceNumber": reference,
        "DeliveryStatus": status,
        "DeliveryStatusDescription": description,
        "SubmissionDate": _iso(message.created_at),
        "NotificationDate": _iso(message.updated_at),
        "Reasoncode": _DELIVERED_REASON if delivered else "",
        "ReasoncodeDescription": "" if delivered else (message.reason or ""),
    }


def notifications(refs: Sequence[str], found: Sequence[Message]) -> list[dict[str, str]]:
    """An entry per message found, in the order of the references asked about (the newest
    message first where a reference names several)."""
    by_ref: dict[str, list[Message]] = {}
    for message in found:
        if message.client_ref is not None:
            by_ref.setdefault(message.client_ref, []).append(message)
    return [notification(ref, m) for ref in refs for m in by_ref.get(ref, [])]
