"""Canonical statuses in the words of the DeliveryId status lookup.

Seed 002 names no status words for a transactional SMS (only that the DeliveryId "can be
used to retrieve the result of a specific sending"); these follow the states MailUp's SMS
reports show: queued, sent, delivered, not delivered.
"""

from __future__ import annotations

from collections.abc import Mapping

from textgate.core.message import Status

__all__ = ["STATUS_WORDS"]

STATUS_WORDS: Mapping[Status, str] = {
    Status.SCHEDULED: "SCHEDULED",
    Status.QUEUED: "QUEUED",
    Status.SENDING: "QUEUED",
    Status.SENT: "SENT",
    Status.BUFFERED: "SENT",
    Status.DELIVERED: "DELIVERED",
    Status.UNDELIVERED: "NOT_DELIVERED",
    Status.FAILED: "FAILED",
    Status.EXPIRED: "EXPIRED",
    Status.CANCELLED: "CANCELLED",
    Status.REJECTED: "REJECTED",
    Status.RECEIVED: "RECEIVED",
}
