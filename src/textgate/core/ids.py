"""Sortable identifiers.

Ids are ULIDs (48-bit millisecond time + 80 random bits, Crockford base32, 26 characters):
they sort by creation time, so an id is also a cursor for "newest first" pagination and
an index on it keeps inserts appending at the end of the b-tree. Within one millisecond a
generator increments the random part instead of drawing a new one (the ULID spec's
monotonic mode), so the recipients of one order keep their order.
"""

from __future__ import annotations

import base64
import os
import time

__all__ = ["IdGenerator", "id_time_ms", "new_id"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(_ALPHABET)}
_RANDOM_MAX = (1 << 80) - 1


# RFC 4648 base32 (in C) with Crockford's alphabet swapped in: the 128-bit value is padded
# to 160 bits on the left, and the last 26 of the 32 characters are the ULID.
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())


def _encode(value: int) -> str:
    return base64.b32encode(value.to_bytes(20, "big"))[6:].translate(_TO_CROCKFORD).decode()


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


def id_time_ms(ulid: str) -> int:
    """The millisecond timestamp inside an id (raises ValueError for a foreign string)."""
    if len(ulid) != 26:
        raise ValueError("not an id")
    value = 0
    for ch in ulid.upper():
        value = (value << 5) | _DECODE[ch]
    return value >> 80
