"""Tests for textgate.core.encoding: vectors from specs/smpp.md section 5, UDH bytes from
3GPP TS 23.040 9.2.3.24.1/.8, and property tests against smsutil as an independent oracle."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textgate.core.encoding import (
    GSM7_MULTI_PART,
    GSM7_MULTI_PART_REF16,
    GSM7_SINGLE_PART,
    UCS2_MULTI_PART,
    UCS2_MULTI_PART_REF16,
    UCS2_SINGLE_PART,
    Encoding,
    Segmentation,
    choose_encoding,
    concat_udh,
    decode_gsm7,
    encode_gsm7,
    encode_ucs2,
    is_gsm7,
    pack_septets,
    segment,
    split_for_udh,
    unpack_septets,
)
from textgate.errors import InvalidRequest

with warnings.catch_warnings():
    # smsutil depends on the py2/3 "future" shim; keep any import-time noise out of the
    # warnings-as-errors run. Importing it registers its global "gsm0338" codec (tests only).
    warnings.simplefilter("ignore")
    import smsutil
    import smsutil.codecs

GSM7, UCS2 = Encoding.GSM7, Encoding.UCS2

# The oracle's alphabet. smsutil lists ESC (0x1B) as a character; it is the escape to the
# extension table (TS 23.038 6.2.1 note 1), not text, so it is excluded here and in strategies.
ORACLE_BASIC = sorted(set(smsutil.codecs.GSM_BASIC_CHARSET) - {"\x1b"})
ORACLE_EXTENSION = sorted(smsutil.codecs.GSM_EXT_CHARSET)
ORACLE_ENCODING = {"gsm0338": GSM7, "utf_16_be": UCS2}


def gsm_units(text: str) -> int:
    """Septets, counted independently of the implementation."""
    return sum(2 if c in ORACLE_EXTENSION else 1 for c in text)


def ucs2_units(text: str) -> int:
    return len(text.encode("utf-16-be")) // 2


# --- vectors (specs/smpp.md section 5) -------------------------------------------------------

VECTORS = [
    # id, text, encoding, characters per part, total units
    ("a*160", "a" * 160, GSM7, [160], 160),
    ("a*161", "a" * 161, GSM7, [153, 8], 161),
    ("x*159+euro", "x" * 159 + "€", GSM7, [153, 7], 161),
    ("euro*80", "€" * 80, GSM7, [80], 160),
    ("euro*81-no-split-escape", "€" * 81, GSM7, [76, 5], 162),
    ("a*152+euro+b*10", "a" * 152 + "€" + "b" * 10, GSM7, [152, 11], 164),
    ("emoji*35", "😀" * 35, UCS2, [35], 70),
    ("emoji*36-no-split-surrogate", "😀" * 36, UCS2, [33, 3], 72),
    ("a+emoji*40", "a" + "😀" * 40, UCS2, [34, 7], 81),
    ("cyrillic*70", "Ж" * 70, UCS2, [70], 70),
    ("cyrillic*71", "Ж" * 71, UCS2, [67, 4], 71),
    ("c-cedilla-not-gsm", "Garçon", UCS2, [6], 6),
    ("backtick-not-gsm", "a`b", UCS2, [3], 3),
    ("section-sign-is-gsm", "§ 12", GSM7, [4], 4),
    ("extension-chars", "Price 5€ [50%] ~{ok}|^\\", GSM7, [23], 32),
    ("form-feed-is-extension", "a\fb", GSM7, [3], 4),
    ("accented-gsm", "Ciao, è già ora: Ä Ö Ñ Ü ß", GSM7, [26], 26),
    ("empty", "", GSM7, [0], 0),
]


@pytest.mark.parametrize(
    ("text", "encoding", "sizes", "units"),
    [pytest.param(*v[1:], id=v[0]) for v in VECTORS],
)
def test_segment_vectors(text: str, encoding: Encoding, sizes: list[int], units: int) -> None:
    seg = segment(text)
    assert seg.encoding is encoding
    assert [len(p) for p in seg.parts] == sizes
    assert seg.units == units
    assert seg.count == len(sizes)
    assert "".join(seg.parts) == text
    assert choose_encoding(text) is encoding
    assert is_gsm7(text) is (encoding is GSM7)


def test_empty_text_is_one_empty_part() -> None:
    assert segment("") == Segmentation(GSM7, ("",), 0)
    assert segment("", UCS2) == Segmentation(UCS2, ("",), 0)


@pytest.mark.parametrize(
    ("text", "encoding", "sizes"),
    [
        pytest.param("a" * 160, None, [160], id="gsm-single-unchanged"),
        pytest.param("a" * 161, None, [152, 9], id="gsm-152"),
        pytest.param("a" * 151 + "€" + "b" * 10, None, [151, 11], id="gsm-152-escape-moves"),
        pytest.param("Ж" * 70, None, [70], id="ucs2-single-unchanged"),
        pytest.param("Ж" * 71, None, [66, 5], id="ucs2-66"),
        pytest.param("a" + "😀" * 40, None, [33, 8], id="ucs2-66-surrogate-moves"),
        pytest.param("a" * 71, UCS2, [66, 5], id="forced-ucs2"),
    ],
)
def test_segment_ref16_capacity(text: str, encoding: Encoding | None, sizes: list[int]) -> None:
    assert [len(p) for p in segment(text, encoding, ref16=True).parts] == sizes


def test_forcing_ucs2_on_gsm_text() -> None:
    seg = segment("a" * 71, UCS2)
    assert seg.encoding is UCS2
    assert [len(p) for p in seg.parts] == [67, 4]


@pytest.mark.parametrize("text", ["Garçon", "a`b", "Ж", "😀"], ids=repr)
def test_forcing_gsm7_on_non_gsm_text_is_rejected(text: str) -> None:
    with pytest.raises(InvalidRequest, match="GSM"):
        segment(text, GSM7)
    with pytest.raises(InvalidRequest, match="GSM"):
        encode_gsm7(text)


@pytest.mark.parametrize("text", ["\ud83d", "a\udc00b"], ids=["high", "low"])
def test_unpaired_surrogate_is_rejected(text: str) -> None:
    with pytest.raises(InvalidRequest, match="surrogate"):
        segment(text)
    with pytest.raises(InvalidRequest, match="surrogate"):
        encode_ucs2(text)


def test_escape_char_is_not_text() -> None:
    # 0x1B is the escape to the extension table, not a character a user can send as GSM-7.
    assert not is_gsm7("\x1b")
    assert segment("a\x1bb").encoding is UCS2


# --- GSM-7 code points (TS 23.038 6.2.1 / 6.2.1.1) ------------------------------------------

GSM7_CODES = [
    ("@", "00"),
    ("£", "01"),
    ("$", "02"),
    ("Ç", "09"),
    ("\n", "0a"),
    ("\r", "0d"),
    ("Δ", "10"),
    ("_", "11"),
    ("¤", "24"),
    ("¡", "40"),
    ("§", "5f"),
    ("¿", "60"),
    ("à", "7f"),
    ("\f", "1b0a"),
    ("^", "1b14"),
    ("{", "1b28"),
    ("}", "1b29"),
    ("\\", "1b2f"),
    ("[", "1b3c"),
    ("~", "1b3d"),
    ("]", "1b3e"),
    ("|", "1b40"),
    ("€", "1b65"),
]


@pytest.mark.parametrize(("char", "hex_"), GSM7_CODES, ids=[repr(c) for c, _ in GSM7_CODES])
def test_gsm7_code_points(char: str, hex_: str) -> None:
    assert encode_gsm7(char).hex() == hex_
    assert decode_gsm7(bytes.fromhex(hex_)) == char


@pytest.mark.parametrize(
    ("data", "text"),
    [
        pytest.param("411b", "A ", id="trailing-escape-is-space"),
        pytest.param("1b1b41", " A", id="escape-escape-is-space"),
        pytest.param("1b41", "A", id="undefined-extension-shows-basic-char"),
        pytest.param("", "", id="empty"),
    ],
)
def test_decode_gsm7_escape_edge_cases(data: str, text: str) -> None:
    assert decode_gsm7(bytes.fromhex(data)) == text


def test_decode_gsm7_rejects_non_septets() -> None:
    with pytest.raises(InvalidRequest, match="0x80 at offset 1"):
        decode_gsm7(b"A\x80")


def test_gsm7_alphabet_matches_oracle() -> None:
    expected = set(ORACLE_BASIC) | set(ORACLE_EXTENSION)
    assert all(is_gsm7(c) for c in expected)
    # Every other BMP character (surrogates excluded) must be rejected.
    others = (chr(cp) for cp in range(0x10000) if not 0xD800 <= cp <= 0xDFFF)
    assert [c for c in others if is_gsm7(c) and c not in expected] == []


def test_encode_ucs2_is_utf16_be() -> None:
    assert encode_ucs2("Ж😀").hex() == "0416d83dde00"


# --- septet packing (TS 23.038 6.1.2.1, fill bits TS 23.040 9.2.3.24) -----------------------


@pytest.mark.parametrize(
    ("septets", "fill_bits", "packed"),
    [
        pytest.param(encode_gsm7("hellohello"), 0, "e8329bfd4697d9ec37", id="hellohello"),
        pytest.param(b"", 0, "", id="empty"),
        pytest.param(b"\x61", 1, "c2", id="one-fill-bit"),
        pytest.param(b"\x7f" * 7, 0, "ffffffffffff01", id="7-septets-7-octets"),
        pytest.param(b"\x7f" * 8, 0, "ffffffffffffff", id="8-septets-7-octets"),
        pytest.param(b"\x01\x02", 6, "404000", id="six-fill-bits"),
    ],
)
def test_pack_septets(septets: bytes, fill_bits: int, packed: str) -> None:
    assert pack_septets(septets, fill_bits).hex() == packed
    assert unpack_septets(bytes.fromhex(packed), len(septets), fill_bits) == septets


def test_pack_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="0-127"):
        pack_septets(b"\x80")
    with pytest.raises(ValueError, match="fill_bits"):
        pack_septets(b"a", 7)
    with pytest.raises(ValueError, match="cannot hold"):
        unpack_septets(b"\x00", 2)


@given(
    septets=st.binary(max_size=200).map(lambda b: bytes(x & 0x7F for x in b)),
    fill=st.integers(0, 6),
)
def test_pack_unpack_round_trip(septets: bytes, fill: int) -> None:
    packed = pack_septets(septets, fill)
    assert len(packed) == (fill + 7 * len(septets) + 7) // 8
    assert unpack_septets(packed, len(septets), fill) == septets


# --- UDH (TS 23.040 9.2.3.24.1 / 9.2.3.24.8) --------------------------------------------------


@pytest.mark.parametrize(
    ("args", "ref16", "udh"),
    [
        pytest.param((0x12, 2, 1), False, "050003120201", id="8bit"),
        pytest.param((0xFF, 255, 255), False, "050003ffffff", id="8bit-max"),
        pytest.param((0x1234, 2, 1), True, "06080412340201", id="16bit"),
        pytest.param((0x12, 2, 2), True, "06080400120202", id="16bit-small-ref"),
    ],
)
def test_concat_udh(args: tuple[int, int, int], ref16: bool, udh: str) -> None:
    assert concat_udh(*args, ref16=ref16).hex() == udh


@pytest.mark.parametrize(
    ("args", "ref16"),
    [
        pytest.param((256, 2, 1), False, id="ref-too-big-for-8bit"),
        pytest.param((0x10000, 2, 1), True, id="ref-too-big-for-16bit"),
        pytest.param((-1, 2, 1), False, id="negative-ref"),
        pytest.param((1, 0, 1), False, id="no-parts"),
        pytest.param((1, 256, 1), False, id="too-many-parts"),
        pytest.param((1, 2, 0), False, id="seq-zero"),
        pytest.param((1, 2, 3), False, id="seq-after-total"),
    ],
)
def test_concat_udh_rejects_out_of_range(args: tuple[int, int, int], ref16: bool) -> None:
    with pytest.raises(ValueError):
        concat_udh(*args, ref16=ref16)


def test_split_for_udh_gsm_8bit() -> None:
    assert split_for_udh("a" * 161, ref=0x12) == [
        bytes.fromhex("050003120201") + b"a" * 153,
        bytes.fromhex("050003120202") + b"a" * 8,
    ]


def test_split_for_udh_gsm_16bit() -> None:
    assert split_for_udh("a" * 161, ref=0x1234, ref16=True) == [
        bytes.fromhex("06080412340201") + b"a" * 152,
        bytes.fromhex("06080412340202") + b"a" * 9,
    ]


def test_split_for_udh_keeps_escape_pairs_in_one_part() -> None:
    first, second = split_for_udh("€" * 81, ref=7)
    assert first == bytes.fromhex("050003070201") + b"\x1b\x65" * 76
    assert second == bytes.fromhex("050003070202") + b"\x1b\x65" * 5


@pytest.mark.parametrize(
    ("text", "ref16", "payload_bytes"),
    [
        pytest.param("Ж" * 71, False, [134, 8], id="8bit-134-bytes"),
        pytest.param("Ж" * 71, True, [132, 10], id="16bit-132-bytes"),
        pytest.param("😀" * 36, False, [132, 12], id="surrogates-kept-whole"),
    ],
)
def test_split_for_udh_ucs2(text: str, ref16: bool, payload_bytes: list[int]) -> None:
    udh_len = 7 if ref16 else 6
    messages = split_for_udh(text, ref=0x99, ref16=ref16)
    assert [len(m) - udh_len for m in messages] == payload_bytes
    assert b"".join(m[udh_len:] for m in messages).decode("utf-16-be") == text


@pytest.mark.parametrize(
    ("text", "encoding", "payload"),
    [
        pytest.param("hello", None, b"hello", id="gsm"),
        pytest.param("Ж", None, b"\x04\x16", id="ucs2"),
        pytest.param("hi", UCS2, b"\x00h\x00i", id="forced-ucs2"),
        pytest.param("", None, b"", id="empty"),
    ],
)
def test_split_for_udh_single_part_has_no_udh(
    text: str, encoding: Encoding | None, payload: bytes
) -> None:
    assert split_for_udh(text, ref=1, encoding=encoding) == [payload]


def test_split_for_udh_validates_ref_even_for_one_part() -> None:
    with pytest.raises(ValueError, match="reference"):
        split_for_udh("hi", ref=300)


def test_split_for_udh_rejects_more_than_255_parts() -> None:
    assert len(split_for_udh("a" * (153 * 255), ref=1)) == 255
    with pytest.raises(InvalidRequest, match="too long"):
        split_for_udh("a" * (153 * 255 + 1), ref=1)


# --- properties against smsutil ---------------------------------------------------------------

# Dense and sparse extension characters, so that escape pairs land on part boundaries.
gsm_char = st.one_of(
    st.sampled_from(ORACLE_BASIC),
    st.sampled_from(ORACLE_EXTENSION),
    st.sampled_from(ORACLE_BASIC + ORACLE_EXTENSION),
)


@st.composite
def sized_text(draw: st.DrawFn, alphabet: st.SearchStrategy[str], max_size: int) -> str:
    """Text of a length drawn first: plain st.text() rarely grows past one SMS, and the
    interesting behaviour sits at the part boundaries (153/160 septets, 67/70 units)."""
    size = draw(st.integers(1, max_size))
    return draw(st.text(alphabet=alphabet, min_size=size, max_size=size))


gsm_text = sized_text(gsm_char, 420)

any_char = st.one_of(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x1b"),  # no lone surrogates
    st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF),  # emoji: surrogate pairs
    st.characters(min_codepoint=0x10000),
    st.sampled_from(ORACLE_EXTENSION),
    st.sampled_from(ORACLE_BASIC),
)
# BMP-only text takes the no-surrogate fast path of the UCS-2 splitter.
bmp_char = st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"], exclude_characters="\x1b")
unicode_text = st.one_of(sized_text(any_char, 200), sized_text(bmp_char, 200))


def assert_matches_oracle(text: str, seg: Segmentation) -> None:
    expected = smsutil.split(text)
    assert seg.encoding is ORACLE_ENCODING[expected.encoding]
    assert list(seg.parts) == [p.content for p in expected.parts]
    per_unit = 1 if seg.encoding is GSM7 else 2  # smsutil counts UCS-2 in bytes
    assert seg.units * per_unit == expected.total_bytes


@settings(max_examples=300)
@given(text=gsm_text)
def test_gsm_text_matches_smsutil(text: str) -> None:
    assert_matches_oracle(text, segment(text))
    assert encode_gsm7(text) == text.encode("gsm0338")


@settings(max_examples=300)
@given(text=unicode_text)
def test_unicode_text_matches_smsutil(text: str) -> None:
    assert_matches_oracle(text, segment(text))


@given(text=gsm_text)
def test_forced_ucs2_matches_smsutil(text: str) -> None:
    expected = smsutil.unicode_split(text)
    assert list(segment(text, UCS2).parts) == [p.content for p in expected.parts]


@given(text=gsm_text)
def test_gsm7_decode_encode_round_trip(text: str) -> None:
    assert decode_gsm7(encode_gsm7(text)) == text


@settings(max_examples=300)
@given(text=st.one_of(gsm_text, unicode_text, st.just("")), ref16=st.booleans())
def test_parts_fit_and_are_filled_greedily(text: str, ref16: bool) -> None:
    seg = segment(text, ref16=ref16)
    if seg.encoding is GSM7:
        units, single = gsm_units, GSM7_SINGLE_PART
        multi = GSM7_MULTI_PART_REF16 if ref16 else GSM7_MULTI_PART
    else:
        units, single = ucs2_units, UCS2_SINGLE_PART
        multi = UCS2_MULTI_PART_REF16 if ref16 else UCS2_MULTI_PART
    assert "".join(seg.parts) == text
    assert seg.units == units(text) == sum(units(p) for p in seg.parts)
    assert (seg.count == 1) is (seg.units <= single)
    if seg.count > 1:
        assert all(0 < units(p) <= multi for p in seg.parts)
        # Greedy: the next part's first character would not have fitted.
        for part, following in zip(seg.parts, seg.parts[1:], strict=False):
            assert units(part) + units(following[0]) > multi
