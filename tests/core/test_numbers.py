"""Tests for textgate.core.numbers. Valid numbers come from phonenumbers' own example numbers
(the Ofcom drama range +44 7700 900xxx is invalid, see specs/smpp.md section 6)."""

from __future__ import annotations

import phonenumbers
import pytest

from textgate.core.numbers import (
    country_of,
    is_numeric_sender,
    normalize_number,
    validate_sender,
)
from textgate.errors import InvalidNumber, InvalidRequest, InvalidSender

# --- normalize_number -------------------------------------------------------------------------

VALID = [
    # id, raw, default country, E.164
    ("fr-international-spaced", "+33 6 12 34 56 78", None, "+33612345678"),
    ("fr-00-prefix", "0033 6 12 34 56 78", None, "+33612345678"),
    ("00-prefix-wins-over-us-region", "0033612345678", "US", "+33612345678"),
    ("fr-national-dots", "06.12.34.56.78", "FR", "+33612345678"),
    ("fr-national-region-lowercase", "0612345678", "fr", "+33612345678"),
    ("fr-international-ignores-region", "+33612345678", "DE", "+33612345678"),
    ("de-national", "01512 3456789", "DE", "+4915123456789"),
    ("gb-mobile-dashes", "+44-7400-123456", None, "+447400123456"),
    ("gb-trunk-zero-in-parentheses", "+44 (0)7400 123456", None, "+447400123456"),
    ("gb-landline", "+44 20 7946 0018", None, "+442079460018"),
    ("us-national-parentheses", "(201) 555-0123", "US", "+12015550123"),
    ("ca-international", "+1 506 234 5678", None, "+15062345678"),
    ("surrounding-whitespace", "  +33612345678\n", None, "+33612345678"),
    ("no-break-space", "+33\u00a0612345678", None, "+33612345678"),
    ("arabic-indic-digits", "٠٦١٢٣٤٥٦٧٨", "FR", "+33612345678"),
    ("non-geographic-800", "+800 1234 5678", None, "+80012345678"),
]


@pytest.mark.parametrize(("raw", "country", "e164"), [pytest.param(*v[1:], id=v[0]) for v in VALID])
def test_normalize_valid(raw: str, country: str | None, e164: str) -> None:
    assert normalize_number(raw, country) == e164


INVALID = [
    # id, raw, default country, words the reason must contain
    ("empty", "", None, "empty"),
    ("blank", "   ", "FR", "empty"),
    ("letters", "ACME", None, "letters"),
    ("vanity-letters", "1-800-FLOWERS", "US", "letters"),
    ("only-separators", "--()", None, "no digits"),
    ("lone-plus", "+", None, "no digits"),
    ("plus-inside", "33+612345678", "FR", "unexpected character '+'"),
    ("hash", "+33#612345678", None, "unexpected character '#'"),
    ("national-without-country", "0612345678", None, "national number without a country"),
    ("unknown-default-country", "0612345678", "XX", "unknown default country"),
    ("too-short", "+33 6 12", None, "too short"),
    ("too-long-for-country", "+33 6 12 34 56 78 9", None, "too long"),
    ("longer-than-e164", "+33 6123 4567 8901 2345", None, "more than 15 digits"),
    ("unknown-calling-code", "+999 1234 5678", None, "unknown country calling code"),
    ("ofcom-drama-number", "+44 7700 900123", None, "not a valid number for +44 (GB)"),
    ("fr-invalid-range", "+33 0 12 34 56 78", None, "not a valid number"),
]


@pytest.mark.parametrize(
    ("raw", "country", "reason"), [pytest.param(*v[1:], id=v[0]) for v in INVALID]
)
def test_normalize_invalid(raw: str, country: str | None, reason: str) -> None:
    with pytest.raises(InvalidNumber) as info:
        normalize_number(raw, country)
    assert reason in info.value.message
    assert info.value.number == raw
    assert info.value.code == "invalid_number"
    assert isinstance(info.value, InvalidRequest)


def test_cached_rejection_raises_a_fresh_exception() -> None:
    errors = []
    for _ in range(2):
        with pytest.raises(InvalidNumber) as info:
            normalize_number("+44 7700 900123")
        errors.append(info.value)
    assert errors[0] is not errors[1]
    assert errors[1].__context__ is None


# Regions whose example number lies in a range they share with another region of the same
# calling code, so the number alone names the other one (EH/MA, MF/BL in metadata 9.0.42).
SHARED_RANGE_REGIONS = {"EH": "MA", "MF": "BL"}


@pytest.mark.parametrize("region", sorted(phonenumbers.SUPPORTED_REGIONS))
def test_example_number_of_every_region(region: str) -> None:
    example = phonenumbers.example_number(region)
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(
        example, phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    assert normalize_number(e164) == e164
    assert normalize_number(international) == e164
    assert normalize_number("00" + e164[1:]) == e164
    assert normalize_number(national, region) == e164
    assert country_of(e164) == SHARED_RANGE_REGIONS.get(region, region)


# --- country_of -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("e164", "region"),
    [
        pytest.param("+33612345678", "FR", id="fr"),
        pytest.param("+12015550123", "US", id="us-shares-1"),
        pytest.param("+15062345678", "CA", id="ca-shares-1"),
        pytest.param("+80012345678", None, id="non-geographic"),
        pytest.param("not a number", None, id="garbage"),
        pytest.param("", None, id="empty"),
    ],
)
def test_country_of(e164: str, region: str | None) -> None:
    assert country_of(e164) == region


# --- senders (seed 000: numeric up to 16 digits, alphanumeric up to 11 characters) ------------

VALID_SENDERS = [
    # id, input, cleaned, numeric?
    ("alphanumeric", "ACME", "ACME", False),
    ("stripped", "  ACME \t", "ACME", False),
    ("with-space", "My Shop", "My Shop", False),
    ("letters-and-digits", "Shop24", "Shop24", False),
    ("alphanumeric-11", "ABCDEFGHIJK", "ABCDEFGHIJK", False),
    ("short-code", "12345", "12345", True),
    ("numeric-international", "+41791234567", "+41791234567", True),
    ("numeric-grouped", "+41 79 123 45 67", "+41791234567", True),
    ("numeric-16-digits", "1234567890123456", "1234567890123456", True),
    ("numeric-16-digits-plus-not-counted", "+1234567890123456", "+1234567890123456", True),
]


@pytest.mark.parametrize(
    ("sender", "cleaned", "numeric"), [pytest.param(*v[1:], id=v[0]) for v in VALID_SENDERS]
)
def test_validate_sender_valid(sender: str, cleaned: str, numeric: bool) -> None:
    assert validate_sender(sender) == cleaned
    assert is_numeric_sender(sender) is numeric


INVALID_SENDERS = [
    # id, input, words the message must contain
    ("empty", "", "empty"),
    ("blank", "   ", "empty"),
    ("alphanumeric-12", "ABCDEFGHIJKL", "too long: 12 characters, at most 11"),
    ("numeric-17", "12345678901234567", "too long: 17 digits, at most 16"),
    ("numeric-plus-17", "+12345678901234567", "too long: 17 digits, at most 16"),
    ("accented", "Café", "contains 'é'"),
    ("dash", "ACME-Shop", "contains '-'"),
    ("plus-in-name", "+ACME", "contains '+'"),
    ("plus-inside-number", "41+79", "contains '+'"),
    ("newline-inside", "AC\nME", "contains '\\n'"),
]


@pytest.mark.parametrize(
    ("sender", "reason"), [pytest.param(*v[1:], id=v[0]) for v in INVALID_SENDERS]
)
def test_validate_sender_invalid(sender: str, reason: str) -> None:
    with pytest.raises(InvalidSender) as info:
        validate_sender(sender)
    assert reason in info.value.message
    assert info.value.code == "invalid_sender"


@pytest.mark.parametrize(
    ("sender", "numeric"),
    [
        pytest.param("ACME", False, id="name"),
        pytest.param("12345", True, id="short-code"),
        pytest.param(" +4179 ", True, id="stripped"),
        pytest.param("+", False, id="lone-plus"),
        pytest.param("", False, id="empty"),
    ],
)
def test_is_numeric_sender(sender: str, numeric: bool) -> None:
    assert is_numeric_sender(sender) is numeric
