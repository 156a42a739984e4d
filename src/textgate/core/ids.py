"""Sortable identifiers.

Ids are ULIDs (48-bit millisecond time + 80 random bits, Crockford base32, 26 characters):
they sort by creation time, so an id is also a cursor for "newest first" pagination and
an index on it keeps inserts appending at the end of the b-tree. Within one millisecond a
generator increments the random part instead of drawing a new one (the ULID spec's
monotonic mode), so the recipients of one order keep their order.
"""

from __future__ import annotations

import os
import time

__all__ = ["IdGenerator", "id_from_value", "id_time_ms", "id_value", "new_id"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(_ALPHABET)}
_RANDOM_MAX = (1 << 80) - 1


# Crockford base32 ten bits at a time: 26 characters are 130 bits, the 128-bit value with
# two leading zero bits, so 13 lookups in a table of every character pair. (base64's
# b32encode is pure Python on 3.11 and cost more than the rest of id generation.)
_PAIRS: tuple[str, ...] = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


def _encode(value: int) -> str:
    p = _PAIRS
    return (
        p[value >> 120]
        + p[(value >> 110) & 0x3FF]
        + p[(value >> 100) & 0x3FF]
        + p[(value >> 90) & 0x3FF]
        + p[(value >> 80) & 0x3FF]
        + p[(value >> 70) & 0x3FF]
        + p[(value >> 60) & 0x3FF]
        + p[(value >> 50) & 0x3FF]
        + p[(value >> 40) & 0x3FF]
        + p[(value >> 30) & 0x3FF]
        + p[(value >> 20) & 0x3FF]
        + p[(value >> 10) & 0x3FF]
        + p[value & 0x3FF]
    )


class IdGenerator:
    """Monotonic ULIDs: strictly increasing for everything made by one generator."""

    def __init__(self) -> None:
        self._last_ms = -1
        self._last_rand = 0

    def __call__(self, now_ms: int | None = None) -> str:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        if ms <= self._last_ms:
            # Same (or an earlier, clock stepped back) millisecond: stay on the last one and
            # count up, so ids never go backwards.
            ms = self._last_ms
            rand = self._last_rand + 1
            if rand > _RANDOM_MAX:  # 2**80 ids in one millisecond: move to the next one
                ms, rand = ms + 1, int.from_bytes(os.urandom(10), "big") >> 1
        else:
            # Half the range, so counting up within a millisecond cannot overflow in practice.
            rand = int.from_bytes(os.urandom(10), "big") >> 1
        self._last_ms, self._last_rand = ms, rand
        return _encode((ms << 80) | rand)


def new_id(now_ms: int | None = None, entropy: bytes | None = None) -> str:
    """A new (non-monotonic) ULID; ``now_ms`` and ``entropy`` are injectable for tests."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = os.urandom(10) if entropy is None else entropy
    return _encode((ms << 80) | int.from_bytes(rand, "big"))


def id_value(ulid: str) -> int:
    """The 128-bit number an id writes (ValueError for a string that is not an id)."""
    if len(ulid) != 26 or ulid[0] not in "01234567":
        raise ValueError("not an id")
    value = 0
    try:
        for ch in ulid.upper():
            value = (value << 5) | _DECODE[ch]
    except KeyError:
        raise ValueError("not an id") from None
    return value


def id_from_value(value: int) -> str:
    """The id of a 128-bit number (ValueError outside 0 .. 2**128 - 1)."""
    if not 0 <= value < 1 << 128:
        raise ValueError("not an id's value")
    return _encode(value)


def id_time_ms(ulid: str) -> int:
    """The millisecond timestamp inside an id (raises ValueError for a foreign string)."""
    return id_value(ulid) >> 80
