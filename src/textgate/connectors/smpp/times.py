"""SMPP time fields (SMPP 3.4 7.1.1, "Time Format"), read into aware datetimes.

A time is 16 characters ``YYMMDDhhmmsstnnp``: ``t`` tenths of a second, ``nn`` the offset
from UTC in quarter hours, ``p`` ``+`` or ``-`` for an absolute time (local time ahead of
or behind UTC), ``R`` for a time relative to now (``YYMMDDhhmmss`` then counts years,
months, days, hours, minutes and seconds; 7.1.1.2 leaves year and month lengths open: taken
here as 365 and 30 days). An empty field means "none".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

__all__ = ["format_time", "parse_time"]

_FORMAT = re.compile(r"(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d)(\d{2})([+\-R])")
_QUARTER_HOUR = timedelta(minutes=15)
# 7.1.1: nn is 00-48 quarter hours (UTC-12:00 to UTC+12:00).
_MAX_QUARTERS = 48


def parse_time(value: str, now: datetime) -> datetime | None:
    """The moment ``value`` names (relative times from ``now``); None for an empty field.
    Raises ValueError for anything else that is not a time."""
    if not value:
        return None
    found = _FORMAT.fullmatch(value)
    if found is None:
        raise ValueError(f"{value!r} is not an SMPP time (YYMMDDhhmmsstnnp)")
    yy, mo, dd, hh, mi, ss, tenth, nn = (int(g) for g in found.groups()[:8])
    sign = found.group(9)
    if sign == "R":
        return now + timedelta(days=yy * 365 + mo * 30 + dd, hours=hh, minutes=mi, seconds=ss)
    if nn > _MAX_QUARTERS:
        raise ValueError(f"{value!r}: a UTC offset of {nn} quarter hours")
    offset = nn * _QUARTER_HOUR * (1 if sign == "+" else -1)
    local = datetime(2000 + yy, mo, dd, hh, mi, ss, tenth * 100_000, tzinfo=timezone(offset))
    return local.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """``moment`` as an absolute SMPP time in UTC (``nn`` 00, ``p`` ``+``)."""
    utc = moment.astimezone(UTC)
    return f"{utc:%y%m%d%H%M%S}{utc.microsecond // 100_000}00+"
