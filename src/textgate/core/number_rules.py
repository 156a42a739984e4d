"""A fast path for validating international numbers, exact to ``phonenumbers``' answers.

``phonenumbers.is_valid_number`` costs about 28 µs a number: most of it is Python plumbing
and ``re.compile`` cache lookups around a handful of regular expressions. This module reads
the same metadata once per region, keeps the patterns compiled, and follows the library's
own steps for a number already in international form (``+`` and digits):

1. country calling code: the first 1, 2 or 3 digits found in ``COUNTRY_CODE_TO_REGION_CODE``
   (``_extract_country_code``);
2. the library may strip a national prefix even after a ``+`` (``parse`` ->
   ``_maybe_strip_national_prefix_carrier_code``); whenever the main region's
   ``national_prefix_for_parsing`` matches the start of the number we step aside;
3. region: the only one, else the first whose ``leading_digits`` match, or that validates
   the number (``_region_code_for_number_from_list``);
4. valid when the number's national significant number matches the general description
   and one number type, lengths first (``_number_type_helper``).

It only ever *confirms* a number: anything it cannot decide returns None and the caller
asks the library itself, which also words the reason for a refusal. Tests compare both on
every region's example numbers and on random digit strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.phonemetadata import PhoneMetadata

__all__ = ["fast_international"]

# The type descriptions _number_type_helper tries, in its order (any match means valid).
_TYPE_DESCS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)
_NON_GEO = "001"
_MAX_CC_DIGITS = 3
_MIN_NSN, _MAX_NSN = 2, 17  # phonenumbers' _MIN_LENGTH_FOR_NSN / _MAX_LENGTH_FOR_NSN


@dataclass(frozen=True, slots=True)
class _Desc:
    lengths: frozenset[int]
    pattern: re.Pattern[str]

    def matches(self, nsn: str) -> bool:
        return (not self.lengths or len(nsn) in self.lengths) and bool(self.pattern.fullmatch(nsn))


@dataclass(frozen=True, slots=True)
class _Region:
    code: str
    leading: re.Pattern[str] | None
    general: _Desc
    types: tuple[_Desc, ...]
    national_prefix: re.Pattern[str] | None
    by_length: dict[int, re.Pattern[str] | None]
    """Per length, one alternation of the type patterns that allow it (built on demand):
    a single fullmatch instead of up to ten."""

    def valid(self, nsn: str) -> bool:
        if not self.general.matches(nsn):
            return False
        size = len(nsn)
        combined = self.by_length.get(size, _UNBUILT)
        if combined is _UNBUILT:
            parts = [d.pattern.pattern for d in self.types if not d.lengths or size in d.lengths]
            combined = re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None
            self.by_length[size] = combined
        return combined is not None and combined.fullmatch(nsn) is not None


_UNBUILT: re.Pattern[str] = re.compile("")


def _desc(raw: Any) -> _Desc | None:
    if raw is None or raw.national_number_pattern is None:
        return None
    return _Desc(frozenset(raw.possible_length or ()), re.compile(raw.national_number_pattern))


_regions: dict[str, _Region | None] = {}


def _region(code: str) -> _Region | None:
    if code in _regions:
        return _regions[code]
    md = PhoneMetadata.metadata_for_region(code, None)
    rules: _Region | None = None
    general = None if md is None else _desc(md.general_desc)
    if md is not None and general is not None:
        types = tuple(d for d in (_desc(getattr(md, n)) for n in _TYPE_DESCS) if d is not None)
        rules = _Region(
            code=code,
            leading=re.compile(md.leading_digits) if md.leading_digits else None,
            general=general,
            types=types,
            national_prefix=(
                re.compile(md.national_prefix_for_parsing)
                if md.national_prefix_for_parsing
                else None
            ),
            by_length={},
        )
    _regions[code] = rules
    return rules


def fast_international(digits: str) -> tuple[str, str] | None:
    """(E.164, region) for a valid number given as its digits after ``+``, or None if unsure.

    ``digits`` must be ASCII digits only.
    """
    if not digits or digits[0] == "0":
        return None
    regions: tuple[str, ...] | None = None
    cc_len = 0
    for cc_len in range(1, _MAX_CC_DIGITS + 1):
        regions = COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:cc_len]))
        if regions is not None:
            break
    if not regions or regions[0] == _NON_GEO:
        return None
    nsn = digits[cc_len:]
    if not _MIN_NSN <= len(nsn) <= _MAX_NSN:
        return None
    main = _region(regions[0])
    if main is None or (main.national_prefix is not None and main.national_prefix.match(nsn)):
        return None
    chosen: _Region | None = main if len(regions) == 1 else None
    if chosen is None:
        for code in regions:
            rules = _region(code)
            if rules is None:
                continue
            if rules.leading is not None:
                if rules.leading.match(nsn):
                    chosen = rules
                    break
            elif rules.valid(nsn):
                chosen = rules
                break
    if chosen is None or not chosen.valid(nsn):
        return None
    return "+" + digits, chosen.code
