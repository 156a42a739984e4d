"""Phone numbers (E.164 normalisation, country lookup) and sender IDs.

Numbers are parsed and validated with ``phonenumbers`` (the ``phonenumberslite`` distribution:
same answers, a fraction of the memory). Full validation is slow, about 2.8k numbers/s across
mixed regions, because the library recompiles regular expressions that overflow ``re``'s
cache; results are therefore memoised per (input, default country), rejections included, so
a list that is sent to every day costs the validation once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import phonenumbers

from textgate.core.number_rules import fast_international
from textgate.errors import InvalidNumber, InvalidSender

__all__ = [
    "MAX_ALPHANUMERIC_SENDER",
    "MAX_NUMERIC_SENDER_DIGITS",
    "country_of",
    "is_numeric_sender",
    "normalize_number",
    "normalize_with_country",
    "validate_sender",
]

_CACHE_SIZE: Final = 100_000

# Visual separators people type inside numbers; dropped before parsing.
_SEPARATORS: Final = frozenset(" \t-./()\u00a0")
# The ITU international call prefix used by most of the world; accepted everywhere, even where
# the local prefix differs (US 011), because a leading 00 is never a national number.
_INTERNATIONAL_PREFIX: Final = "00"
# ITU-T E.164: at most 15 digits including the country code.
_E164_MAX_DIGITS: Final = 15
# region_code_for_number() answers "001" for non-geographic codes (+800, +882...) and "ZZ"
# when it cannot tell.
_NO_REGION: Final = frozenset({"001", "ZZ"})

_POSSIBLE_REASONS: Final[dict[int, str]] = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country calling code",
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "wrong number of digits",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "a local number without area code",
}
_PARSE_REASONS: Final[dict[int, str]] = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country calling code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


@dataclass(frozen=True, slots=True)
class _Rejected:
    """A cached rejection; a fresh exception is raised from it on every call (an exception
    object must not be shared: raising it again would chain tracebacks)."""

    reason: str


def normalize_number(raw: str, default_country: str | None = None) -> str:
    """Return ``raw`` as an E.164 number (``"+33612345678"``).

    Accepts ``+CC...``, the ``00`` international prefix (whatever the default country), and
    national numbers when ``default_country`` (ISO 3166-1 alpha-2) is given; spaces, dashes,
    dots and parentheses are ignored. The number must be valid for its country according to
    ``phonenumbers.is_valid_number``. Raises :class:`InvalidNumber` (``number=raw``) with the
    reason otherwise.
    """
    return normalize_with_country(raw, default_country)[0]


def normalize_with_country(raw: str, default_country: str | None = None) -> tuple[str, str | None]:
    """:func:`normalize_number` plus the number's region (as :func:`country_of`), parsed once."""
    result = _normalize(raw, default_country)
    if isinstance(result, _Rejected):
        raise InvalidNumber(f"invalid phone number {raw!r}: {result.reason}", number=raw)
    return result


@lru_cache(maxsize=_CACHE_SIZE)
def _normalize(raw: str, default_country: str | None) -> tuple[str, str | None] | _Rejected:
    text = raw.strip()
    if not text:
        return _Rejected("empty")
    if text[0] == "+" and text.isascii() and text[1:].isdigit():
        # Already E.164-shaped, the common case for API clients: skip the character loop.
        fast = fast_international(text[1:])
        if fast is not None:
            return fast
    digits: list[str] = []
    for index, char in enumerate(text):
        if char.isdecimal():
            digits.append(str(int(char)))  # int() maps any Unicode decimal digit to 0-9
        elif char == "+" and index == 0:
            digits.append("+")
        elif char in _SEPARATORS:
            continue
        elif char.isalpha():
            return _Rejected("contains letters, not a phone number")
        else:
            return _Rejected(f"unexpected character {char!r}")
    compact = "".join(digits)
    if compact.startswith(_INTERNATIONAL_PREFIX):
        compact = "+" + compact[len(_INTERNATIONAL_PREFIX) :]
    national_digits = compact.removeprefix("+")
    if not national_digits:
        return _Rejected("no digits")
    if len(national_digits) > _E164_MAX_DIGITS:
        return _Rejected(f"too long (more than {_E164_MAX_DIGITS} digits)")

    if compact[0] == "+":
        fast = fast_international(national_digits)
        if fast is not None:
            return fast
    region: str | None = None
    if not compact.startswith("+"):
        if default_country is None:
            return _Rejected(
                "national number without a country; use the international format +CC..."
            )
        region = default_country.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            return _Rejected(f"unknown default country {default_country!r}")
    try:
        number = phonenumbers.parse(compact, region)
    except phonenumbers.NumberParseException as exc:
        return _Rejected(_PARSE_REASONS.get(exc.error_type, "not a phone number"))

    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != phonenumbers.ValidationResult.IS_POSSIBLE:
        return _Rejected(_POSSIBLE_REASONS.get(possible, "not a possible number"))
    if not phonenumbers.is_valid_number(number):
        calling_code = number.country_code or 0
        code_region = phonenumbers.region_code_for_country_code(calling_code)
        where = f"+{calling_code}"
        if code_region not in _NO_REGION:
            where += f" ({code_region})"
        return _Rejected(f"not a valid number for {where}")
    e164: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    region_code: str | None = phonenumbers.region_code_for_number(number)
    return e164, None if region_code is None or region_code in _NO_REGION else region_code


@lru_cache(maxsize=_CACHE_SIZE)
def country_of(e164: str) -> str | None:
    """ISO 3166-1 alpha-2 region of a normalised number (``"+33612345678"`` -> ``"FR"``).

    None when the number has no single region (non-geographic codes such as +800) or cannot
    be parsed. Shared calling codes (+1, +7, +44...) are resolved by number range.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    region: str | None = phonenumbers.region_code_for_number(number)
    return None if region is None or region in _NO_REGION else region


# Sender (TPOA) rules, seed 000 (LabsMobile): "numeric (maximum length 16 digits) or
# alphanumeric (maximum capacity 11 characters)". An alphanumeric TPOA travels as GSM-7 in the
# 11-octet TP-OA field (23.040 9.1.2.5); plain ASCII letters, digits and spaces are the set
# that operators pass unchanged (seed 002, MailUp: "only letters and numbers (a-zA-Z0-9)";
# spaces are accepted by most operators and by the other providers' examples).
MAX_ALPHANUMERIC_SENDER: Final = 11
MAX_NUMERIC_SENDER_DIGITS: Final = 16
# Numeric: an optional leading "+" then digits; spaces between digit groups are allowed on
# input ("+41 79 123 45 67") and removed.
_NUMERIC_SENDER = re.compile(r"\+?[0-9][0-9 ]*")
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 ]+")


def validate_sender(sender: str) -> str:
    """Check a sender ID and return it cleaned.

    Numeric: an optional ``+`` and up to 16 digits (the ``+`` is not counted; spaces between
    digits are removed). Alphanumeric: 1-11 characters from ``A-Z a-z 0-9`` and space.
    Surrounding whitespace is stripped. Raises :class:`InvalidSender` otherwise.
    """
    cleaned = sender.strip()
    if not cleaned:
        raise InvalidSender("sender is empty")
    if _NUMERIC_SENDER.fullmatch(cleaned):
        compact = cleaned.replace(" ", "")
        digits = len(compact.removeprefix("+"))
        if digits > MAX_NUMERIC_SENDER_DIGITS:
            raise InvalidSender(
                f"numeric sender {cleaned!r} is too long: {digits} digits, "
                f"at most {MAX_NUMERIC_SENDER_DIGITS}"
            )
        return compact
    if not _ALPHANUMERIC_SENDER.fullmatch(cleaned):
        bad = next(c for c in cleaned if not _ALPHANUMERIC_SENDER.fullmatch(c))
        raise InvalidSender(
            f"sender {cleaned!r} contains {bad!r}: an alphanumeric sender may only use "
            f"ASCII letters, digits and spaces; a numeric one only digits with a leading +"
        )
    if len(cleaned) > MAX_ALPHANUMERIC_SENDER:
        raise InvalidSender(
            f"alphanumeric sender {cleaned!r} is too long: {len(cleaned)} characters, "
            f"at most {MAX_ALPHANUMERIC_SENDER}"
        )
    return cleaned


def is_numeric_sender(sender: str) -> bool:
    """True if the sender is numeric (optional ``+``, digits), i.e. goes out as a number
    (SMPP TON international/unknown) rather than as alphanumeric text (TON 5)."""
    return _NUMERIC_SENDER.fullmatch(sender.strip()) is not None
