"""The fast path must agree with phonenumbers wherever it gives an answer."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from textgate.core.number_rules import fast_international

_TYPES = [
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
]


def _library(digits: str) -> tuple[str, str] | None:
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    region = phonenumbers.region_code_for_number(number)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), region


def _examples() -> list[str]:
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in _TYPES:
            ex = phonenumbers.example_number_for_type(region, kind)
            if ex is not None:
                found.append(
                    phonenumbers.format_number(ex, phonenumbers.PhoneNumberFormat.E164)[1:]
                )
    return found


EXAMPLES = _examples()


def _agree(digits: str) -> bool:
    fast = fast_international(digits)
    if fast is not None:
        assert fast == _library(digits), digits
    return fast is not None


def test_every_example_number_agrees_and_most_take_the_fast_path() -> None:
    answered = sum(_agree(d) for d in EXAMPLES)
    assert len(EXAMPLES) > 1000
    assert answered / len(EXAMPLES) > 0.9


@pytest.mark.parametrize("digits", ["33612345678", "447400123456", "12015550123", "390612345678"])
def test_common_numbers(digits: str) -> None:
    assert _agree(digits)


@settings(max_examples=3000, deadline=None)
@given(
    base=st.sampled_from(EXAMPLES),
    cut=st.integers(min_value=0, max_value=6),
    tail=st.text(alphabet="0123456789", min_size=0, max_size=7),
)
def test_mutated_example_numbers_agree(base: str, cut: int, tail: str) -> None:
    digits = base[: max(1, len(base) - cut)] + tail
    _agree(digits)


@settings(max_examples=3000, deadline=None)
@given(
    cc=st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)),
    rest=st.text(alphabet="0123456789", min_size=1, max_size=15),
)
def test_random_numbers_agree(cc: int, rest: str) -> None:
    _agree(f"{cc}{rest}")
