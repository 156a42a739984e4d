"""An id is a 128-bit number written in Crockford base32: both ways, and nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from textgate.core.ids import IdGenerator, id_from_value, id_time_ms, id_value, new_id


@given(st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_a_number_and_its_id_map_both_ways(value: int) -> None:
    assert id_value(id_from_value(value)) == value


def test_ids_made_by_the_gateway_read_back_as_their_numbers() -> None:
    make = IdGenerator()
    first, second = make(1_700_000_000_000), make(1_700_000_000_000)
    assert id_value(second) == id_value(first) + 1
    assert id_time_ms(first) == 1_700_000_000_000
    assert id_from_value(id_value(first)) == first


@pytest.mark.parametrize(
    "text",
    ["", "0" * 25, "0" * 27, "8" + "0" * 25, "U" + "0" * 25, "0" * 25 + "!", "\uff10" * 26],
    ids=["empty", "short", "long", "over 128 bits", "not Crockford", "punctuation", "wide"],
)
def test_what_is_no_id_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        id_value(text)


def test_a_number_over_128_bits_has_no_id() -> None:
    with pytest.raises(ValueError):
        id_from_value(1 << 128)
    with pytest.raises(ValueError):
        id_from_value(-1)
    assert len(new_id()) == 26
