"""SMSC delivery receipts: the text of SMPP 3.4 Appendix B and message_state (5.2.28).

Appendix B gives the de-facto format of a receipt carried in a deliver_sm's short_message
(esm_class bits 2-5 = 0001, 5.2.12)::

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
    stat:DDDDDDD err:E Text: ...

The appendix says the format is SMSC-specific, and SMSCs do vary: key case, field order,
missing fields, seconds in dates (YYMMDDhhmmss), message ids in decimal where submit_sm_resp
gave hex (or the reverse). ``parse_receipt`` accepts all of these; ``Receipt.id_candidates``
lists the spellings of the id worth trying when matching it to a submitted message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final

from textgate.connectors.smpp.constants import MessageState
from textgate.core.message import Status

__all__ = [
    "MESSAGE_STATE_STATUS",
    "STATUS_RECEIPT",
    "STAT_STATUS",
    "Receipt",
    "format_receipt",
    "message_state_to_status",
    "parse_receipt",
    "stat_to_status",
]

# A key starts the text or follows whitespace; "submit date" also appears as submit_date
# or wrapped over two lines.
_KEY = re.compile(
    r"(?:^|(?<=\s))(id|sub|dlvrd|submit[\s_]?date|done[\s_]?date|stat|err|text)\s*:",
    re.IGNORECASE,
)
# The Appendix B layout itself, fields in the appendix's order, each value one token right
# after its colon (or none): what nearly every SMSC sends. A text this matches gives the
# values the general key scan would (a key needs whitespace before it and no token holds
# any, so no value can hide a key); the scan takes every other text.
_CANONICAL = re.compile(
    r"\s*id\s*:(?P<id>\S*)\s+sub\s*:(?P<sub>\S*)\s+dlvrd\s*:(?P<dlvrd>\S*)"
    r"\s+submit[\s_]?date\s*:(?P<submitdate>\S*)\s+done[\s_]?date\s*:(?P<donedate>\S*)"
    r"\s+stat\s*:(?P<stat>\S*)\s+err\s*:(?P<err>\S*)(?:\s+text\s*:(?P<text>.*)|\s*)",
    re.IGNORECASE | re.DOTALL,
)
_KEY_SEPARATORS = re.compile(r"[\s_]")
_DATE = re.compile(r"\d{10}(?:\d{2})?")
_MAX_ID = 65  # message_id is a C-Octet String of up to 65 octets (5.2.23)
_HEX = re.compile(r"(?:0x)?([0-9a-f]+)", re.IGNORECASE)
_RECEIPT_TEXT_CHARS = 20  # Appendix B: "the first 20 characters of the short message"


@dataclass(frozen=True, slots=True)
class Receipt:
    """One parsed receipt. Fields missing from the text are None (``text`` is "")."""

    message_id: str
    stat: str
    submitted: int | None = None
    delivered: int | None = None
    submit_date: datetime | None = None
    done_date: datetime | None = None
    err: str | None = None
    text: str = ""

    def id_candidates(self) -> tuple[str, ...]:
        """The id as given, then its normalised decimal and lowercase-hex readings (no
        leading zeros), because SMSCs disagree on the base of ids in receipts."""
        raw = self.message_id
        out = [raw]
        match = _HEX.fullmatch(raw)
        if match is not None:
            digits = match.group(1)
            if raw.isdigit():
                value = int(raw, 10)
                out += [str(value), format(value, "x")]
            hex_value = int(digits, 16)
            out += [format(hex_value, "x"), str(hex_value)]
        return tuple(dict.fromkeys(out))


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) <= 9 else None


def _date(value: str | None) -> datetime | None:
    """YYMMDDhhmm or YYMMDDhhmmss (Appendix B), read as UTC in 2000-2099."""
    return None if value is None else _parse_date(value)


@lru_cache(maxsize=256)  # receipts arriving together share their minute
def _parse_date(value: str) -> datetime | None:
    if _DATE.fullmatch(value) is None:
        return None
    parts = [int(value[i : i + 2]) for i in range(0, len(value), 2)]
    year, month, day, hour, minute = parts[:5]
    second = parts[5] if len(parts) == 6 else 0
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None


def parse_receipt(text: str) -> Receipt | None:
    """Parse an Appendix B receipt; None unless it has at least an ``id`` and a ``stat``.

    Keys are case-insensitive and may come in any order; everything after ``text:`` is the
    text (it may contain colons); other values are the first whitespace-separated token.
    """
    canonical = _CANONICAL.fullmatch(text)
    if canonical is None:
        values = _scan(text)
    else:
        values = {k: v for k, v in canonical.groupdict().items() if v is not None}
        if "text" in values:
            values["text"] = values["text"].strip()
    message_id = values.get("id", "")
    stat = values.get("stat", "").upper()
    if not message_id or not stat or len(message_id) > _MAX_ID:
        return None
    return Receipt(
        message_id=message_id,
        stat=stat,
        submitted=_int(values.get("sub")),
        delivered=_int(values.get("dlvrd")),
        submit_date=_date(values.get("submitdate")),
        done_date=_date(values.get("donedate")),
        err=values.get("err") or None,
        text=values.get("text", ""),
    )


def _scan(text: str) -> dict[str, str]:
    """Key/value pairs of a receipt in any key order and spacing (see parse_receipt)."""
    matches = list(_KEY.finditer(text))
    values: dict[str, str] = {}
    for index, match in enumerate(matches):
        key = _KEY_SEPARATORS.sub("", match.group(1).lower())
        if key in values:
            continue
        if key == "text":
            values[key] = text[match.end() :].strip()
            break
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        tokens = text[match.end() : end].split()
        values[key] = tokens[0] if tokens else ""
    return values


# Appendix B, "message states" table (stat values, with 5.2.28's full names as aliases that
# some SMSCs write instead). UNKNOWN maps to None: it says the SMSC itself does not know what
# happened, which is no news, so the message keeps the status it has (a later receipt or a
# query_sm may still settle it) instead of being forced into a final state.
STAT_STATUS: Final[dict[str, Status | None]] = {
    "DELIVRD": Status.DELIVERED,
    "DELIVERED": Status.DELIVERED,
    "UNDELIV": Status.UNDELIVERED,
    "UNDELIVERABLE": Status.UNDELIVERED,
    "REJECTD": Status.UNDELIVERED,
    "REJECTED": Status.UNDELIVERED,
    "EXPIRED": Status.EXPIRED,
    "ACCEPTD": Status.BUFFERED,
    "ACCEPTED": Status.BUFFERED,
    "ENROUTE": Status.BUFFERED,
    "DELETED": Status.UNDELIVERED,
    "UNKNOWN": None,
}

# 5.2.28 message_state (query_sm_resp, and the message_state TLV of a receipt, 5.3.2.35);
# the same reading as the stat table above.
MESSAGE_STATE_STATUS: Final[dict[MessageState, Status | None]] = {
    MessageState.ENROUTE: Status.BUFFERED,
    MessageState.DELIVERED: Status.DELIVERED,
    MessageState.EXPIRED: Status.EXPIRED,
    MessageState.DELETED: Status.UNDELIVERED,
    MessageState.UNDELIVERABLE: Status.UNDELIVERED,
    MessageState.ACCEPTED: Status.BUFFERED,
    MessageState.UNKNOWN: None,
    MessageState.REJECTED: Status.UNDELIVERED,
}


# The other way, for a server that sends receipts (textgate's SMPP server): a final status
# -> the Appendix B stat and the 5.2.28 message_state. A message that failed before any
# operator took it (failed, rejected) is REJECTD; a cancelled one DELETED (4.9: cancel_sm
# deletes it from the SMSC's queue).
STATUS_RECEIPT: Final[dict[Status, tuple[str, MessageState]]] = {
    Status.DELIVERED: ("DELIVRD", MessageState.DELIVERED),
    Status.UNDELIVERED: ("UNDELIV", MessageState.UNDELIVERABLE),
    Status.EXPIRED: ("EXPIRED", MessageState.EXPIRED),
    Status.CANCELLED: ("DELETED", MessageState.DELETED),
    Status.FAILED: ("REJECTD", MessageState.REJECTED),
    Status.REJECTED: ("REJECTD", MessageState.REJECTED),
}


def format_receipt(receipt: Receipt) -> str:
    """The Appendix B text of ``receipt``: dates as YYMMDDhhmm (UTC), counts as three
    digits, ``err`` as given (000 when None), the text cut to the appendix's first 20
    characters and kept to printable ASCII (anything else would make the receipt itself
    other than the ASCII every ESME reads)."""
    excerpt = "".join(c if " " <= c <= "~" else "?" for c in receipt.text[:_RECEIPT_TEXT_CHARS])
    return (
        f"id:{receipt.message_id} sub:{receipt.submitted or 0:03d} "
        f"dlvrd:{receipt.delivered or 0:03d} submit date:{_format_date(receipt.submit_date)} "
        f"done date:{_format_date(receipt.done_date)} stat:{receipt.stat} "
        f"err:{receipt.err or '000'} text:{excerpt}"
    )


def _format_date(value: datetime | None) -> str:
    if value is None:
        return ""
    return f"{value if value.tzinfo is None else value.astimezone(UTC):%y%m%d%H%M}"


def stat_to_status(stat: str) -> Status | None:
    """Canonical status for a receipt's ``stat`` (case-insensitive); None for UNKNOWN and
    for values no table knows."""
    return STAT_STATUS.get(stat.strip().upper())


def message_state_to_status(state: int) -> Status | None:
    """Canonical status for a 5.2.28 message_state; None for UNKNOWN and undefined values."""
    try:
        return MESSAGE_STATE_STATUS[MessageState(state)]
    except ValueError:
        return None
