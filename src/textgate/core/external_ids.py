"""Operator message ids as stored and as matched (pure).

An SMSC names a submitted message in its submit_sm_resp (SMPP 3.4 4.4.2, a C-Octet String
of up to 65 octets) and names it again in the delivery receipt, but SMSCs disagree on the
spelling: the receipt's ``id:`` field (Appendix B) is often the decimal reading of a hex id,
or the reverse, with or without leading zeros and in either case. The receipt may also come
to another process, or after a restart, so the match must work from stored state alone.

Every recorded id gets a *key*, :func:`id_key`: hex-looking ids lower-cased with leading
zeros dropped, anything else as it is. A reported id is looked up under the keys of
:func:`match_keys`: its own key first, then the key of its other base's reading. A stored
key matching an earlier key of the list wins.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["id_key", "match_keys"]

# One regex match instead of a loop over the characters: every receipt's id goes through
# this two or three times, and SMSC ids are often 32 hex digits.
_HEX: Final = re.compile(r"[0-9A-Fa-f]+")
# Ids this long read as numbers would be beyond any SMSC's counter: no second reading.
_MAX_NUMERIC_DIGITS: Final = 40


def _is_hex(value: str) -> bool:
    return _HEX.fullmatch(value) is not None


def id_key(external_id: str) -> str:
    """The stored key of an id: ``"0001A2F"`` -> ``"1a2f"``, ``"abc-1"`` -> ``"abc-1"``."""
    value = external_id.strip()
    if _is_hex(value):
        return value.lower().lstrip("0") or "0"
    return value


def match_keys(external_id: str) -> tuple[str, ...]:
    """Keys under which a reported id may have been stored, the likeliest first.

    ``"6703"`` -> ``("6703", "1a2f", "26371")``: stored as decimal 6703, as hex 0x1A2F
    (the receipt gave its decimal reading), or as decimal 26371 (the receipt gave hex).
    ``"1a2f"`` -> ``("1a2f", "6703")``: stored as hex, or as its decimal reading.
    """
    value = external_id.strip()
    keys = [id_key(value)]
    if _is_hex(value) and len(value) <= _MAX_NUMERIC_DIGITS:
        if value.isdigit():
            keys.append(format(int(value, 10), "x"))
        keys.append(str(int(value, 16)))
    return tuple(dict.fromkeys(keys))
